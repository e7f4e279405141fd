//! grantor: a self-hosted OAuth 2.0 / OpenID Connect authorization server that
//! speaks Auth0's wire format. See ARCHITECTURE.md for the code map.

pub mod app;
pub mod bootstrap;
pub mod claims;
pub mod clock;
pub mod config;
pub mod config_file;
pub mod flows;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod outbox;
pub mod password;
pub mod purge;
pub mod refresh_secret;
pub mod secrets;
pub mod state;
pub mod telemetry;
pub mod tls;

pub use app::Application;
pub use clock::Clock;
pub use config::Config;
