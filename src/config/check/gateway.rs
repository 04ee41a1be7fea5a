//! The gateway's needs: an asymmetric signing key, TLS to an upstream on a
//! public address, time-outs that are not zero, something to forward.

use super::{Finding, network::is_private};
use crate::config::{
    Settings, SigningAlgorithm,
    gateway::{DEFAULT_UPSTREAM, GatewaySettings},
};

/// What `[gateway]` needs: an asymmetric signing key (the upstream
/// verifies assertions with the public half, and an HS256 secret would let
/// it mint tokens), TLS to an upstream on a public address, time-outs
/// that are not zero.
pub(super) fn findings(settings: &Settings, gateway: &GatewaySettings, production: bool) -> Vec<Finding> {
    let mut found = Vec::new();
    if settings.auth.algorithm == SigningAlgorithm::HS256 {
        found.push(
            Finding::error(
                "auth.algorithm",
                "HS256 cannot sign gateway assertions: the upstream would need the secret that mints tokens; use EdDSA, ES256 or RS256",
            )
            .everywhere(),
        );
    }
    let upstreams = match gateway.all_upstreams() {
        Ok(upstreams) => upstreams,
        Err(why) => {
            found.push(Finding::error("gateway.upstreams", why).everywhere());
            Vec::new()
        }
    };
    for upstream in &upstreams {
        let private = match upstream.url.host() {
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => is_private(ip.into()),
            Some(url::Host::Ipv6(ip)) => is_private(ip.into()),
            None => false,
        };
        if !upstream.url.is_https() && !private {
            let message = format!(
                "plain http to {} sends identities and assertions unencrypted to an address that is not loopback or private: use https",
                upstream.url.origin()
            );
            let key = if upstream.name.as_str() == DEFAULT_UPSTREAM && gateway.upstream.is_some() {
                "gateway.upstream"
            } else {
                "gateway.upstreams"
            };
            found.push(Finding::in_production(production, key, message));
        }
    }
    for route in &gateway.routes {
        if let Err(why) = gateway.route_upstream(route, &upstreams) {
            found.push(Finding::error("gateway.routes", why).everywhere());
        }
    }
    // With no upstream, the routes serve forward-auth alone, which answers
    // trusted proxies only.
    if upstreams.is_empty() && settings.proxy.trusted.is_empty() {
        found.push(Finding::warning(
            "proxy.trusted",
            "the gateway has no upstream, so its routes serve forward-auth alone, which answers only the proxies in proxy.trusted: none is listed",
        ));
    }
    for (key, value) in [
        ("gateway.timeout", gateway.timeout),
        ("gateway.assertion_ttl", gateway.assertion_ttl),
    ] {
        if value.get().is_zero() {
            found.push(Finding::error(key, "must be longer than 0s").everywhere());
        }
    }
    if gateway.routes.is_empty() && upstreams.iter().all(|upstream| upstream.openapi.is_none()) {
        found.push(Finding::warning(
            "gateway.routes",
            "no routes and no openapi document: nothing is forwarded",
        ));
    }
    found
}
