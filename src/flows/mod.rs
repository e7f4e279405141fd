//! Application layer: load, decide (domain), write (store), mint (keys).
//! Flows take `RequestMeta` and `now`, never framework request types.

pub mod admin;
pub mod audience;
pub mod audit;
pub mod authorize;
pub mod client_auth;
pub mod device_authorization;
pub mod dpop;
pub mod introspect;
pub mod issue;
pub mod login;
pub mod logout;
pub mod multi_resource;
pub mod par;
pub mod revocation;
pub mod signing_keys;
pub mod token;
pub mod userinfo;

use grantor_domain::OAuthError;

/// The caller's IP address and user agent, for device records and audit.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: String,
    pub user_agent: String,
}

/// The network a client address stands for wherever the server counts per
/// client IP (rate limits, connection caps, brute-force counters): an IPv4
/// address itself, an IPv6 address's /64 (one subscriber usually holds a whole
/// /64, so single IPv6 addresses would each get a fresh allowance).
/// IPv4-mapped IPv6 addresses count as their IPv4 address.
pub fn client_network(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip.to_canonical() {
        std::net::IpAddr::V6(v6) => ipnet::Ipv6Net::new(v6, 64)
            .map(|net| std::net::IpAddr::V6(net.network()))
            .unwrap_or(std::net::IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// How a flow fails: a protocol error for the client, or something unexpected.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<grantor_store::StoreError> for FlowError {
    fn from(e: grantor_store::StoreError) -> Self {
        Self::Internal(anyhow::Error::new(e))
    }
}
