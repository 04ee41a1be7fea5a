//! Where rampart listens and whom it believes: trusted proxies, TLS in
//! production, the admin listener kept private and apart.

use ipnet::IpNet;

use super::Finding;
use crate::config::{Settings, TrustedNet};

pub(super) fn findings(settings: &Settings, production: bool) -> Vec<Finding> {
    let mut found = Vec::new();
    for net in &settings.proxy.trusted {
        if let Some(finding) = trusted_proxy_finding(*net, production) {
            found.push(finding);
        }
    }

    if production && settings.tls.is_none() && settings.proxy.trusted.is_empty() {
        found.push(Finding::error(
            "tls",
            "production serves plain HTTP: configure [tls], or list the TLS-terminating proxy in proxy.trusted",
        ));
    }
    if !settings.admin_bind.ip().is_loopback() {
        found.push(Finding::warning(
            "admin_bind",
            format!(
                "{} is reachable from other hosts: /metrics should stay private",
                settings.admin_bind
            ),
        ));
    }
    if settings.bind == settings.admin_bind && settings.bind.port() != 0 {
        found.push(
            Finding::error(
                "admin_bind",
                "admin_bind must differ from bind: /metrics is never public",
            )
            .everywhere(),
        );
    }
    if let Some(tls) = &settings.tls
        && tls.hsts_max_age.get().as_secs() < 180 * 86_400
    {
        found.push(Finding::warning(
            "tls.hsts_max_age",
            "HSTS shorter than 180 days gives little protection (OWASP HTTP headers cheat sheet)",
        ));
    }
    found
}

pub(super) fn is_private(ip: std::net::IpAddr) -> bool {
    PRIVATE_NETS.iter().any(|block| {
        block
            .parse::<IpNet>()
            .expect("valid network literal")
            .contains(&ip)
    })
}

/// The broadest trusted network that can still be one operator's proxies:
/// an IPv4 /8, an IPv6 /32 (a whole provider's allocation).
const BROADEST_TRUSTED_V4: u8 = 8;
const BROADEST_TRUSTED_V6: u8 = 32;

/// Networks that hold no address of a client on the internet: private
/// (RFC 1918, RFC 4193), loopback, link-local, and shared address space
/// (RFC 6598, carrier-grade NAT and many cluster networks).
const PRIVATE_NETS: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
];

/// What is wrong with trusting `net` as a proxy, if anything. A trusted
/// peer chooses the client address (`X-Forwarded-For`: rate limits, logs,
/// audit) and the scheme (`X-Forwarded-Proto`: HSTS, secure cookies) of
/// every request it sends, so only one's own proxies may be trusted (OWASP
/// ASVS 5.0 4.1.3: headers set by an intermediary cannot be overridden by
/// the end user).
fn trusted_proxy_finding(TrustedNet(net): TrustedNet, production: bool) -> Option<Finding> {
    const KEY: &str = "proxy.trusted";
    let broadest = match net {
        IpNet::V4(_) => BROADEST_TRUSTED_V4,
        IpNet::V6(_) => BROADEST_TRUSTED_V6,
    };
    if net.prefix_len() < broadest {
        let what = if net.prefix_len() == 0 {
            format!("{net} holds every address")
        } else {
            format!("{net} is broader than /{broadest}")
        };
        let message = format!(
            "{what}, so every client could choose its own address and scheme through X-Forwarded-For and X-Forwarded-Proto: list only your proxies' networks"
        );
        return Some(Finding::in_production(production, KEY, message));
    }
    let private = is_private(net.network()) && is_private(net.broadcast());
    (!private).then(|| {
        Finding::warning(
            KEY,
            format!(
                "{net} holds public addresses, whose hosts may each choose the client address they forward: list only proxies you run or a CDN's published ranges"
            ),
        )
    })
}
