//! The gateway's needs: an asymmetric signing key, TLS to an upstream on a
//! public address, time-outs that are not zero, something to forward.

use super::{Finding, network::is_private};
use crate::config::{Settings, SigningAlgorithm, gateway::GatewaySettings};

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
    let private = match gateway.upstream.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => is_private(ip.into()),
        Some(url::Host::Ipv6(ip)) => is_private(ip.into()),
        None => false,
    };
    if !gateway.upstream.is_https() && !private {
        let message = format!(
            "plain http to {} sends identities and assertions unencrypted to an address that is not loopback or private: use https",
            gateway.upstream.origin()
        );
        found.push(Finding::in_production(production, "gateway.upstream", message));
    }
    for (key, value) in [
        ("gateway.timeout", gateway.timeout),
        ("gateway.assertion_ttl", gateway.assertion_ttl),
    ] {
        if value.get().is_zero() {
            found.push(Finding::error(key, "must be longer than 0s").everywhere());
        }
    }
    if gateway.routes.is_empty() && gateway.openapi.is_none() {
        found.push(Finding::warning(
            "gateway.routes",
            "no routes and no openapi document: nothing is forwarded",
        ));
    }
    found
}
