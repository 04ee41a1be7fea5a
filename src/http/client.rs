//! Who is calling: the client IP and whether the request came over TLS,
//! computed once per request and used by limits, logs, audit and HSTS alike.
//!
//! The client IP is the socket peer, unless the peer is a trusted proxy
//! (`proxy.trusted`): then it is the right-most `X-Forwarded-For` entry that is
//! not itself trusted. Entries left of that one were written by the client
//! and prove nothing (OWASP: trust only what your own proxies append).
//!
//! An entry is an address, or an address with the port the proxy saw
//! (`198.51.100.7:4711`, `[2001:db8::1]:443`: some proxies and load balancers
//! append the peer's socket address). The port is dropped: budgets and logs
//! belong to the address, and a client must not get a fresh budget per
//! source port.

use std::net::{IpAddr, SocketAddr};

use http::{HeaderMap, Uri, header};
use ipnet::IpNet;

use crate::server::Connection;

/// What the server knows of the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    pub ip: IpAddr,
    /// The request reached rampart over TLS, directly or through a trusted
    /// proxy that said so in `X-Forwarded-Proto`.
    pub https: bool,
}

/// The trusted proxies, from `proxy.trusted`.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> Self {
        Self(nets.into_iter().collect())
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Resolves the client from the socket peer and the request headers.
    pub fn resolve(&self, peer: IpAddr, tls: bool, headers: &HeaderMap) -> ClientInfo {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return ClientInfo { ip: peer, https: tls };
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let mut ip = peer;
        for entry in forwarded.iter().rev() {
            match parse_hop(entry) {
                Some(hop) if self.trusts(hop) => ip = canonical(hop),
                Some(hop) => {
                    ip = canonical(hop);
                    break;
                }
                // A malformed entry cannot be attributed: stop at the last
                // trusted hop rather than believe anything left of it.
                None => break,
            }
        }
        let forwarded_https = headers
            .get("x-forwarded-proto")
            .and_then(|value| value.to_str().ok())
            .map(|value| value.trim().eq_ignore_ascii_case("https"))
            .unwrap_or(false);
        ClientInfo {
            ip,
            https: tls || forwarded_https,
        }
    }
}

/// The address of one `X-Forwarded-For` entry: `ip`, `ip:port` or
/// `[ipv6]:port` (RFC 3986 authority syntax, as `SocketAddr` parses it);
/// `None` for anything else.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|socket| socket.ip()))
        .ok()
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are their IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

impl TrustedProxies {
    /// Resolves the client of a request on `connection` with `headers`.
    pub fn identify(&self, connection: Option<&Connection>, headers: &HeaderMap) -> ClientInfo {
        // Every listener sets the connection; a request without one (built
        // in-process) is treated as local plain HTTP.
        let (peer, tls) = connection.map_or((IpAddr::from([127, 0, 0, 1]), false), |c| (c.peer.ip(), c.tls));
        self.resolve(peer, tls, headers)
    }
}

/// The authority the request addressed: the request target's (HTTP/2's
/// `:authority`, or an absolute-form HTTP/1.1 target, which RFC 9112
/// section 3.2.2 says overrides `Host`), else the `Host` header.
pub fn authority<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    uri.authority()
        .map(http::uri::Authority::as_str)
        .or_else(|| headers.get(header::HOST).and_then(|host| host.to_str().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let proxies = TrustedProxies::new(["10.0.0.0/8".parse().unwrap()]);
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("x-forwarded-proto", "https")]);
        let client = proxies.resolve(ip("203.0.113.9"), false, &h);
        assert_eq!(
            client,
            ClientInfo {
                ip: ip("203.0.113.9"),
                https: false
            }
        );
    }

    #[test]
    fn a_trusted_peer_yields_the_rightmost_untrusted_hop() {
        let proxies = TrustedProxies::new(["10.0.0.0/8".parse().unwrap()]);
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6, 198.51.100.7"),
            ("x-forwarded-for", "10.0.0.3"),
            ("x-forwarded-proto", "https"),
        ]);
        let client = proxies.resolve(ip("10.0.0.2"), false, &h);
        assert_eq!(
            client,
            ClientInfo {
                ip: ip("198.51.100.7"),
                https: true
            }
        );
    }

    #[test]
    fn a_malformed_hop_stops_the_walk() {
        let proxies = TrustedProxies::new(["10.0.0.0/8".parse().unwrap()]);
        let h = headers(&[("x-forwarded-for", "1.2.3.4, garbage")]);
        assert_eq!(proxies.resolve(ip("10.0.0.2"), false, &h).ip, ip("10.0.0.2"));
    }

    #[test]
    fn forwarded_entries_may_carry_a_port() {
        assert_eq!(parse_hop("198.51.100.7:4711"), Some(ip("198.51.100.7")));
        assert_eq!(parse_hop("[2001:db8::1]:443"), Some(ip("2001:db8::1")));
        assert_eq!(parse_hop("2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(parse_hop("198.51.100.7"), Some(ip("198.51.100.7")));
        for bad in [
            "198.51.100.7:",
            "198.51.100.7:99999",
            "2001:db8::1:443:x",
            "host:80",
            "",
        ] {
            assert_eq!(parse_hop(bad), None, "{bad}");
        }

        let proxies = TrustedProxies::new(["10.0.0.0/8".parse().unwrap()]);
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7:4711, 10.0.0.3:80")]);
        assert_eq!(proxies.resolve(ip("10.0.0.2"), false, &h).ip, ip("198.51.100.7"));
        let h = headers(&[("x-forwarded-for", "[2001:db8::1]:443")]);
        assert_eq!(proxies.resolve(ip("10.0.0.2"), false, &h).ip, ip("2001:db8::1"));
    }

    #[test]
    fn mapped_ipv4_peers_match_ipv4_networks() {
        let proxies = TrustedProxies::new(["127.0.0.1/32".parse().unwrap()]);
        let h = headers(&[("x-forwarded-for", "192.0.2.1")]);
        assert_eq!(
            proxies.resolve(ip("::ffff:127.0.0.1"), false, &h).ip,
            ip("192.0.2.1")
        );
    }
}
