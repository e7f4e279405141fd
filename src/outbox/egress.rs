//! Where the delivery worker may connect: receivers are registered by API
//! clients, so without a rule a registration could make grantor send
//! requests into the network it runs in (SSRF: cloud metadata at
//! 169.254.169.254, an admin port on localhost, a database on 10.0.0.0/8).
//!
//! The rule is checked on the addresses a request actually connects to: a
//! URL with an IP literal before the request, a host name in the resolver
//! the HTTP client connects through, so a name that resolves to a public
//! address when registered and to an internal one later (DNS rebinding) is
//! refused too. Internal addresses are refused unless the operator allows
//! their network (`--outbound-allow-networks`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

/// The networks receivers may be in besides the public internet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    allowed: Vec<IpNet>,
}

impl EgressPolicy {
    /// A comma-separated list of networks (`10.1.0.0/16`) or addresses
    /// (`127.0.0.1`, a /32 or /128); empty allows none.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut allowed = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let net = item
                .parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("not a network or address: {item:?}"))?;
            allowed.push(net);
        }
        Ok(Self { allowed })
    }

    /// Whether a request may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        !is_internal(ip) || self.allowed.iter().any(|net| net.contains(&ip))
    }

    /// Refuses a URL whose host is an IP literal the rule does not permit
    /// (the HTTP client resolves only names). A host name passes here; the
    /// resolver checks its addresses.
    pub fn check_url(&self, url: &str) -> Result<(), String> {
        let parsed = url::Url::parse(url).map_err(|_| "not a valid URL".to_owned())?;
        let ip = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            Some(url::Host::Domain(_)) => return Ok(()),
            None => return Err("the URL has no host".to_owned()),
        };
        if self.permits(ip) {
            Ok(())
        } else {
            Err(refusal(ip))
        }
    }

    /// The resolver for the delivery client: the system's, with every
    /// address the rule does not permit removed.
    pub fn resolver(&self) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver {
            policy: Arc::new(self.clone()),
        })
    }
}

fn refusal(ip: IpAddr) -> String {
    format!("refused to connect to {ip}: an internal address (allow its network with --outbound-allow-networks)")
}

/// An IPv4 address carried in IPv6 (`::ffff:10.0.0.1`) is judged as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Addresses that are not on the public internet: this host, private and
/// shared networks, link-local (cloud metadata), multicast, and the
/// special-purpose ranges of RFC 6890.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT), RFC 6598
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, RFC 2544
        || a >= 240 // reserved
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local, fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated), fec0::/10
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        // NAT64 (64:ff9b::/96) and IPv4-compatible (::a.b.c.d) addresses
        // reach the IPv4 address they carry.
        || (ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
            && is_internal_v4(embedded_v4(ip)))
        || (ip.segments()[..6] == [0; 6] && is_internal_v4(embedded_v4(ip)))
        // Local-use NAT64 (64:ff9b:1::/48, RFC 8215) translates into the
        // operator's own IPv4 networks; Teredo (2001::/32) and 6to4
        // (2002::/16) tunnel to IPv4 addresses too: none is a receiver's.
        || (first == 0x64 && ip.segments()[1] == 0xff9b && ip.segments()[2] == 1)
        || (first == 0x2001 && ip.segments()[1] == 0)
        || first == 0x2002
}

fn embedded_v4(ip: Ipv6Addr) -> Ipv4Addr {
    let o = ip.octets();
    Ipv4Addr::new(o[12], o[13], o[14], o[15])
}

/// The system resolver (`getaddrinfo` on a blocking thread, as the HTTP
/// client's default), keeping only permitted addresses; a name left with
/// none fails to connect with the reason.
pub struct GuardedResolver {
    policy: Arc<EgressPolicy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|addr| policy.permits(addr.ip()))
                .collect();
            // The refusal does not say which address the name has: the
            // receiver's registrant would learn the internal network's names.
            match (permitted.is_empty(), found.is_empty()) {
                (false, _) => Ok(Box::new(permitted.into_iter()) as reqwest::dns::Addrs),
                (true, false) => Err(format!(
                    "refused to connect to {host}: it resolves only to internal addresses (allow their network with --outbound-allow-networks)"
                )
                .into()),
                (true, true) => Err(format!("{host} has no address").into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_refused_by_default() {
        let policy = EgressPolicy::default();
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
            "64:ff9b:1::a00:1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2002:a00:1::1",
        ] {
            assert!(!policy.permits(ip(internal)), "{internal} must be refused");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(policy.permits(ip(public)), "{public} must be allowed");
        }
    }

    #[test]
    fn the_operator_allows_networks() {
        let policy = EgressPolicy::parse("127.0.0.1, 10.20.0.0/16,::1").unwrap();
        assert!(policy.permits(ip("127.0.0.1")));
        assert!(policy.permits(ip("::ffff:127.0.0.1")));
        assert!(policy.permits(ip("10.20.3.4")));
        assert!(policy.permits(ip("::1")));
        assert!(!policy.permits(ip("127.0.0.2")));
        assert!(!policy.permits(ip("10.21.0.1")));
        assert!(EgressPolicy::parse("10.0.0.0/33").is_err());
        assert!(EgressPolicy::parse("intranet").is_err());
        assert_eq!(EgressPolicy::parse(" , ").unwrap(), EgressPolicy::default());
    }

    #[test]
    fn ip_literal_urls_are_checked_names_are_left_to_the_resolver() {
        let policy = EgressPolicy::default();
        assert!(policy
            .check_url("http://169.254.169.254/latest/meta-data")
            .is_err());
        assert!(policy.check_url("http://[::1]:8080/x").is_err());
        assert!(policy.check_url("https://0x7f000001/").is_err());
        assert!(policy.check_url("https://receiver.example/x").is_ok());
        assert!(policy.check_url("https://93.184.216.34/x").is_ok());
    }

    #[tokio::test]
    async fn the_resolver_drops_internal_addresses() {
        use reqwest::dns::Resolve as _;
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let refused = EgressPolicy::default().resolver().resolve(name).await;
        let error = refused.err().expect("localhost is internal").to_string();
        assert!(error.contains("--outbound-allow-networks"), "{error}");
        assert!(
            !error.contains("127.0.0.1") && !error.contains("::1"),
            "the address is not told: {error}"
        );

        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let allowed = EgressPolicy::parse("127.0.0.0/8,::1")
            .unwrap()
            .resolver()
            .resolve(name)
            .await
            .expect("allowed");
        assert!(allowed.into_iter().all(|a| a.ip().is_loopback()));
    }
}
