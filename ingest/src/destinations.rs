//! Which network destinations an address a partner typed may make the recorder connect to
//! (issue 22 F3). A partner who could point an ONVIF probe or a camera at any host:port could
//! make the server scan and talk to the agency's internal network, the VMS itself on loopback,
//! or cloud metadata services on link-local addresses. Addresses are checked *after* DNS
//! resolution, and only the checked addresses are connected to, so a name cannot point
//! somewhere else between check and use.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

/// Destinations that partner-supplied addresses may reach.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Destinations {
    /// Anything goes: config-file cameras and the operator's own CLI.
    pub unrestricted: bool,
    /// Private ranges (RFC 1918, RFC 6598 shared space, IPv6 ULA): for partner cameras reached
    /// over a VPN into the agency's network.
    pub allow_private: bool,
    /// Networks allowed whatever the rules above say (e.g. a camera VLAN, or loopback for a
    /// demo's simulated cameras).
    pub allow: Vec<IpNet>,
}

/// Why a destination was refused.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    #[error("this address is not allowed for partner cameras")]
    Refused,
    #[error("the address could not be resolved")]
    Unresolved,
}

impl Destinations {
    /// No restriction.
    pub fn unrestricted() -> Self {
        Destinations {
            unrestricted: true,
            ..Destinations::default()
        }
    }

    /// Whether a connection to `ip` is allowed.
    pub fn permits(&self, ip: IpAddr) -> bool {
        // An IPv4-mapped IPv6 address is the IPv4 address as far as routing goes.
        let mapped = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if self.unrestricted
            || self
                .allow
                .iter()
                .any(|n| n.contains(&ip) || n.contains(&mapped))
        {
            return true;
        }
        let ip = mapped;
        if is_never(ip) {
            return false;
        }
        self.allow_private || !is_private(ip)
    }

    /// Strict rules plus loopback: for demos and tests whose cameras are simulated on this
    /// machine.
    pub fn loopback_allowed() -> Self {
        Destinations {
            allow: ["127.0.0.0/8", "::1/128"]
                .iter()
                .filter_map(|n| n.parse().ok())
                .collect(),
            ..Destinations::default()
        }
    }

    /// [`Destinations::resolve`] for the host and port a connection to `url` goes to.
    pub async fn resolve_url(
        &self,
        url: &url::Url,
        timeout: Duration,
    ) -> Result<Vec<SocketAddr>, DestinationError> {
        let (host, port) = url_target(url).ok_or(DestinationError::Unresolved)?;
        self.resolve(&host, port, timeout).await
    }

    /// Resolves `host:port` and returns the addresses that may be connected to; an error when
    /// none may (so the caller learns nothing about which internal names exist).
    pub async fn resolve(
        &self,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<Vec<SocketAddr>, DestinationError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let found: Vec<SocketAddr> =
            match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
                Ok(Ok(addrs)) => addrs.collect(),
                _ => return Err(DestinationError::Unresolved),
            };
        let allowed: Vec<SocketAddr> = found
            .iter()
            .copied()
            .filter(|a| self.permits(a.ip()))
            .collect();
        if allowed.is_empty() {
            return Err(if found.is_empty() {
                DestinationError::Unresolved
            } else {
                DestinationError::Refused
            });
        }
        Ok(allowed)
    }
}

/// Host (without IPv6 brackets) and port a connection to `url` goes to: the scheme's default
/// port for `http`, RTSP's 554 otherwise.
pub fn url_target(url: &url::Url) -> Option<(String, u16)> {
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    Some((host.to_owned(), url.port_or_known_default().unwrap_or(554)))
}

/// Loopback, unspecified, link-local (cloud metadata lives there), multicast, broadcast and
/// documentation ranges: never a partner's camera.
fn is_never(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_unspecified()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 0
                || v4.octets()[0] >= 240
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// RFC 1918, RFC 6598 (carrier-grade NAT) and IPv6 unique-local addresses.
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private() || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn partner_destinations_table() {
        let strict = Destinations::default();
        let vpn = Destinations {
            allow_private: true,
            ..Destinations::default()
        };
        let demo = Destinations {
            allow: vec!["127.0.0.0/8".parse().unwrap_or_else(|_| unreachable!())],
            ..Destinations::default()
        };
        // (address, strict, private allowed, loopback allow-listed)
        for (a, s, p, d) in [
            ("203.0.113.9", false, false, false), // documentation
            ("198.51.100.7", false, false, false),
            ("8.8.8.8", true, true, true),
            ("127.0.0.1", false, false, true),
            ("127.1.2.3", false, false, true),
            ("0.0.0.0", false, false, false),
            ("169.254.169.254", false, false, false), // cloud metadata
            ("224.0.0.251", false, false, false),
            ("255.255.255.255", false, false, false),
            ("10.1.2.3", false, true, false),
            ("172.16.0.1", false, true, false),
            ("192.168.1.10", false, true, false),
            ("100.64.0.1", false, true, false),
            ("::1", false, false, false),
            ("::ffff:127.0.0.1", false, false, true),
            ("::ffff:10.0.0.1", false, true, false),
            ("fe80::1", false, false, false),
            ("fd00::1", false, true, false),
            ("ff02::1", false, false, false),
            ("2001:4860:4860::8888", true, true, true),
        ] {
            let x = ip(a);
            assert_eq!(strict.permits(x), s, "strict {a}");
            assert_eq!(vpn.permits(x), p, "private allowed {a}");
            assert_eq!(demo.permits(x), d, "loopback allow-listed {a}");
            assert!(Destinations::unrestricted().permits(x));
        }
    }
}
