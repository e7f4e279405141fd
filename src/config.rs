//! Command line and environment → validated configuration.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

use crate::http::client_ip::TrustedProxies;
use crate::http::rate_limit::{Rate, RateLimitConfig};
use crate::outbox::egress::EgressPolicy;
use crate::outbox::OutboxConfig;
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
    /// TOML file of options: each key is a long option name below (with `-`
    /// or `_`); options and environment variables override it.
    #[arg(long, env = "GRANTOR_CONFIG", value_name = "FILE")]
    pub config: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "GRANTOR_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Issuer URL; every endpoint URL derives from it. Default:
    /// http://<listen>/, or https://<listen>/ with --tls-cert.
    #[arg(long, env = "GRANTOR_ISSUER")]
    pub issuer: Option<String>,
    /// Serve HTTPS with this PEM certificate chain (the server's certificate
    /// first); needs --tls-key. Both files are read again on SIGHUP.
    #[arg(long, env = "GRANTOR_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The certificate's PEM private key (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "GRANTOR_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<std::path::PathBuf>,
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
    #[arg(
        long,
        env = "GRANTOR_ADMIN_EMAIL",
        hide_env_values = true,
        default_value = "admin@grantor.local"
    )]
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
    /// Seconds between each process's checks for a signing-key rotation or
    /// revocation made by another process (1 to 3600): the bound on how long
    /// a process may sign with a replaced key or trust a revoked one.
    #[arg(long, env = "GRANTOR_SIGNING_KEY_REFRESH_SECONDS", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub signing_key_refresh_seconds: u64,
    /// Require a server nonce (RFC 9449 §8) in every DPoP proof, at the
    /// token endpoint, `/userinfo` and `/oauth/par`: a proof without a current one is
    /// answered `use_dpop_nonce` with a fresh nonce in `DPoP-Nonce`.
    #[arg(long, env = "GRANTOR_REQUIRE_DPOP_NONCE", default_value_t = false,
          action = clap::ArgAction::Set, value_name = "BOOL")]
    pub require_dpop_nonce: bool,
    /// Seconds a pushed authorization request's `request_uri` stays usable
    /// (RFC 9126 `expires_in`; 1 to 600, Auth0: 30).
    #[arg(long, env = "GRANTOR_PAR_LIFETIME_SECONDS",
          default_value_t = crate::flows::par::DEFAULT_LIFETIME_SECONDS,
          value_parser = clap::value_parser!(i64).range(1..=600))]
    pub par_lifetime_seconds: i64,
    /// Serve `GET /metrics` only on this address (e.g. 127.0.0.1:9464), not
    /// on the main listener. Default: on the main listener.
    #[arg(long, env = "GRANTOR_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Days audit events are kept (1 to 3650).
    #[arg(long, env = "GRANTOR_LOG_RETENTION_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(i64).range(1..=3650))]
    pub log_retention_days: i64,
    /// Milliseconds between the outbox worker's looks for due messages
    /// (back-channel logouts) when nothing new woke it; 0 turns delivery off.
    #[arg(long, env = "GRANTOR_OUTBOX_POLL_INTERVAL_MS", default_value_t = 1000)]
    pub outbox_poll_interval_ms: u64,
    /// Delivery attempts before an outbox message is marked failed (1 to 100).
    #[arg(long, env = "GRANTOR_OUTBOX_MAX_ATTEMPTS", default_value_t = 20,
          value_parser = clap::value_parser!(i64).range(1..=100))]
    pub outbox_max_attempts: i64,
    /// Milliseconds before the first retry of a failed delivery; the delay
    /// doubles with each attempt, up to an hour.
    #[arg(long, env = "GRANTOR_OUTBOX_RETRY_BASE_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub outbox_retry_base_ms: u64,
    /// Seconds a log stream's deliveries may keep failing before the stream
    /// is suspended (Auth0: 7 days).
    #[arg(long, env = "GRANTOR_LOG_STREAM_SUSPEND_AFTER_SECONDS", default_value_t = 604_800,
          value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub log_stream_suspend_after_seconds: u64,
    /// Internal networks (comma-separated CIDRs or addresses) that
    /// back-channel logout, log stream and SSF receivers may be in. Loopback,
    /// private, link-local (cloud metadata) and other non-public addresses
    /// are refused otherwise.
    #[arg(long, env = "GRANTOR_OUTBOUND_ALLOW_NETWORKS", default_value = "")]
    pub outbound_allow_networks: String,
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
    /// Requests a minute per client IP on each rate-limited surface
    /// (token/revoke/introspect/device endpoints; sign-in and activation
    /// pages; Management API); 0 turns the per-IP limit off.
    #[arg(long, env = "GRANTOR_RATE_LIMIT_PER_IP", default_value_t = 1200)]
    pub rate_limit_per_ip: u32,
    /// Requests one client IP may send at once before the per-minute rate applies.
    #[arg(long, env = "GRANTOR_RATE_LIMIT_PER_IP_BURST", default_value_t = 300)]
    pub rate_limit_per_ip_burst: u32,
    /// Requests a minute per client id on each rate-limited surface; 0 turns it off.
    #[arg(long, env = "GRANTOR_RATE_LIMIT_PER_CLIENT", default_value_t = 6000)]
    pub rate_limit_per_client: u32,
    /// Requests one client id may send at once.
    #[arg(
        long,
        env = "GRANTOR_RATE_LIMIT_PER_CLIENT_BURST",
        default_value_t = 1000
    )]
    pub rate_limit_per_client_burst: u32,
    /// Unauthenticated row-writing requests (`GET /authorize`,
    /// `POST /oauth/device/code`, a public client's `POST /oauth/par`) a
    /// minute per client IP, also the burst; 0 turns it off.
    #[arg(long, env = "GRANTOR_RATE_LIMIT_WRITES_PER_IP", default_value_t = 60)]
    pub rate_limit_writes_per_ip: u32,
    /// Most keys (IPs, client ids) one rate limiter remembers (1000 to 10000000).
    #[arg(long, env = "GRANTOR_RATE_LIMIT_MAX_KEYS", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1000..=10_000_000))]
    pub rate_limit_max_keys: u64,
    /// Comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed.
    #[arg(long, env = "GRANTOR_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,
    /// Seconds a connection may take to send a request's headers, and may stay
    /// idle between requests (1 to 3600).
    #[arg(long, env = "GRANTOR_HEADER_READ_TIMEOUT_SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_read_timeout_seconds: u64,
    /// Most connections served at once; further ones wait in the listen
    /// backlog until one closes (1 to 1000000).
    #[arg(long, env = "GRANTOR_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Most connections one client IP (an IPv6 /64) may hold at once; more
    /// are closed at accept. Peers in --trusted-proxies are exempt (1 to 1000000).
    #[arg(long, env = "GRANTOR_MAX_CONNECTIONS_PER_IP", default_value_t = 128,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections_per_ip: u64,
    /// Seconds a request's whole body may take to arrive, however it trickles (1 to 3600).
    #[arg(long, env = "GRANTOR_BODY_READ_TIMEOUT_SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_read_timeout_seconds: u64,
    /// Log lines as `text` or `json` (one object per line); `auto` is text
    /// when standard error is a terminal, JSON otherwise.
    #[arg(long, env = "GRANTOR_LOG_FORMAT", value_enum, default_value_t = crate::telemetry::LogFormat::Auto)]
    pub log_format: crate::telemetry::LogFormat,
    /// OpenTelemetry collector to export traces to over OTLP/HTTP (protobuf),
    /// as a base URL (`http://collector:4318`; `/v1/traces` is appended).
    /// Unset: no export.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<String>,
}

/// How connections are served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// hyper's header-read timeout: it runs whenever a connection waits for
    /// a request head, so it bounds both a slow header and an idle keep-alive.
    pub header_read_timeout: std::time::Duration,
    pub max_connections: usize,
    /// Connections one socket peer (IPv6: its /64) may hold; trusted proxies
    /// are exempt.
    pub max_connections_per_ip: usize,
    /// How long a request's whole body may take to arrive.
    pub body_read_timeout: std::time::Duration,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: std::time::Duration::from_secs(10),
            max_connections: 1024,
            max_connections_per_ip: 128,
            body_read_timeout: std::time::Duration::from_secs(10),
        }
    }
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

    /// `http://<addr>/`, or `https://<addr>/` when grantor serves TLS.
    pub fn for_listen_address(addr: SocketAddr, https: bool) -> Self {
        let scheme = if https { "https" } else { "http" };
        Self(format!("{scheme}://{addr}/"))
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
    /// `--tls-cert` and `--tls-key`: the main listener serves HTTPS.
    pub tls: Option<crate::tls::TlsFiles>,
    pub database_url: String,
    pub bootstrap: BootstrapCredentials,
    pub clock: Clock,
    pub purge: PurgeConfig,
    pub outbox: OutboxConfig,
    pub password_hashing: PasswordHashConfig,
    pub rate_limits: RateLimitConfig,
    pub trusted_proxies: TrustedProxies,
    pub connections: ConnectionConfig,
    /// How often this process polls the signing keys' version (`keys.rs`).
    pub signing_key_refresh: std::time::Duration,
    /// `--par-lifetime-seconds`: how long a pushed request's `request_uri`
    /// stays usable (`flows::par`).
    pub par_lifetime_seconds: i64,
    /// `--metrics-listen`: `/metrics` only there (`metrics.rs`).
    pub metrics_listen: Option<String>,
    /// `--require-dpop-nonce`: DPoP proofs must carry a server nonce.
    pub require_dpop_nonce: bool,
}

impl Config {
    pub fn from_args(args: ServeArgs) -> Result<Self, String> {
        let issuer = args.issuer.as_deref().map(Issuer::parse).transpose()?;
        let tls = crate::tls::TlsFiles::from_options(args.tls_cert, args.tls_key)?;
        if tls.is_some() && issuer.as_ref().is_some_and(|i| !i.is_https()) {
            // Discovery would send clients to http:// URLs this listener
            // does not answer, and cookies would lose `Secure`.
            return Err("--issuer must be an https:// URL with --tls-cert".to_owned());
        }
        let trusted_proxies = TrustedProxies::parse(&args.trusted_proxies)?;
        Ok(Self {
            listen: args.listen,
            issuer,
            tls,
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
            outbox: OutboxConfig {
                poll_interval: (args.outbox_poll_interval_ms > 0)
                    .then(|| std::time::Duration::from_millis(args.outbox_poll_interval_ms)),
                max_attempts: args.outbox_max_attempts,
                retry_base: std::time::Duration::from_millis(args.outbox_retry_base_ms),
                stream_suspend_after: std::time::Duration::from_secs(
                    args.log_stream_suspend_after_seconds,
                ),
                egress: EgressPolicy::parse(&args.outbound_allow_networks)
                    .map_err(|e| format!("--outbound-allow-networks: {e}"))?,
                ..OutboxConfig::default()
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
            rate_limits: RateLimitConfig {
                per_ip: Rate::new(args.rate_limit_per_ip, args.rate_limit_per_ip_burst),
                per_client: Rate::new(args.rate_limit_per_client, args.rate_limit_per_client_burst),
                writes_per_ip: Rate::new(args.rate_limit_writes_per_ip, 0),
                max_keys: usize::try_from(args.rate_limit_max_keys)
                    .map_err(|_| "rate-limit-max-keys is too large".to_owned())?,
            },
            trusted_proxies,
            signing_key_refresh: std::time::Duration::from_secs(args.signing_key_refresh_seconds),
            par_lifetime_seconds: args.par_lifetime_seconds,
            metrics_listen: args.metrics_listen,
            require_dpop_nonce: args.require_dpop_nonce,
            connections: ConnectionConfig {
                header_read_timeout: std::time::Duration::from_secs(
                    args.header_read_timeout_seconds,
                ),
                max_connections: usize::try_from(args.max_connections)
                    .map_err(|_| "max-connections is too large".to_owned())?,
                max_connections_per_ip: usize::try_from(args.max_connections_per_ip)
                    .map_err(|_| "max-connections-per-ip is too large".to_owned())?,
                body_read_timeout: std::time::Duration::from_secs(args.body_read_timeout_seconds),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_args(extra: &[&str]) -> ServeArgs {
        let mut argv = vec!["grantor", "serve"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).expect("arguments parse").command {
            Command::Serve(args) => args,
        }
    }

    #[test]
    fn limits_are_on_by_default_and_zero_turns_them_off() {
        let config = Config::from_args(serve_args(&[])).unwrap();
        let limits = &config.rate_limits;
        assert_eq!(limits.per_ip, Rate::new(1200, 300));
        assert_eq!(limits.per_client, Rate::new(6000, 1000));
        assert_eq!(limits.writes_per_ip, Rate::new(60, 60));
        assert!(config.trusted_proxies.is_empty());
        assert_eq!(config.connections, ConnectionConfig::default());

        let config = Config::from_args(serve_args(&[
            "--rate-limit-per-ip",
            "0",
            "--rate-limit-per-client",
            "0",
            "--rate-limit-writes-per-ip",
            "0",
            "--trusted-proxies",
            "10.0.0.0/8,::1",
            "--max-connections",
            "5",
        ]))
        .unwrap();
        assert_eq!(config.rate_limits.per_ip, None);
        assert_eq!(config.rate_limits.per_client, None);
        assert_eq!(config.rate_limits.writes_per_ip, None);
        assert!(!config.trusted_proxies.is_empty());
        assert_eq!(config.connections.max_connections, 5);

        let bad = Config::from_args(serve_args(&["--trusted-proxies", "nonsense"]));
        assert!(bad.is_err());
    }

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

    /// The README's option tables (First start, Configuration) have a row
    /// for every option of `grantor serve`, with its environment variable,
    /// and no row for an option that does not exist.
    #[test]
    fn the_readme_lists_every_option() {
        use clap::CommandFactory as _;
        let readme = include_str!("../README.md");
        // Rows whose first cell is exactly one option name.
        let rows: Vec<&str> = readme
            .lines()
            .filter(|l| {
                l.strip_prefix("| `--")
                    .and_then(|rest| rest.split_once("` |"))
                    .is_some_and(|(name, _)| {
                        name.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                    })
            })
            .collect();
        let cli = Cli::command();
        let serve = cli.find_subcommand("serve").expect("serve");
        let mut options = Vec::new();
        for arg in serve.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if matches!(long, "help" | "version") {
                continue;
            }
            let env = arg
                .get_env()
                .map(|e| e.to_string_lossy().into_owned())
                .expect("every option has an environment variable");
            let row = rows
                .iter()
                .find(|r| r.starts_with(&format!("| `--{long}` |")))
                .unwrap_or_else(|| panic!("README has no row for --{long}"));
            assert!(row.contains(&format!("`{env}`")), "--{long}: {row}");
            options.push(format!("| `--{long}` |"));
        }
        for row in rows {
            assert!(
                options.iter().any(|o| row.starts_with(o.as_str())),
                "README lists an option grantor does not have: {row}"
            );
        }
    }
}
