//! `rampart config check`: every finding about the effective configuration.
//!
//! The same findings gate `rampart serve`: in production any error-level
//! finding refuses the start; a few are refused in every environment because
//! no environment makes them safe (a weak secret that was set explicitly,
//! `*` with credentials).

use std::fmt;

use ipnet::IpNet;

use super::{AllowedOrigin, Environment, Settings, TrustedNet, gateway::GatewaySettings, secret::SecretKey};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Warning,
    Error,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Warning => "warning",
            Self::Error => "error",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    /// The configuration key concerned (`secret` for the secret).
    pub key: &'static str,
    pub message: String,
    /// Refused by `serve` even in development.
    pub refused_everywhere: bool,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.level, self.key, self.message)
    }
}

impl Finding {
    pub fn error(key: &'static str, message: impl Into<String>) -> Self {
        Self {
            level: Level::Error,
            key,
            message: message.into(),
            refused_everywhere: false,
        }
    }

    fn warning(key: &'static str, message: impl Into<String>) -> Self {
        Self {
            level: Level::Warning,
            key,
            message: message.into(),
            refused_everywhere: false,
        }
    }

    fn everywhere(mut self) -> Self {
        self.refused_everywhere = true;
        self
    }

    /// Whether `serve` must refuse to start on this finding.
    pub fn refuses_start(&self, env: Environment) -> bool {
        self.level == Level::Error && (self.refused_everywhere || env == Environment::Production)
    }
}

/// What `rate_limit.backend = "redis"` needs: a URL, TLS to a Redis that is
/// not on this host, and a database that several instances can share.
fn redis_findings(settings: &Settings, production: bool) -> Vec<Finding> {
    let mut found = Vec::new();
    let url = settings.rate_limit.redis_url.trim();
    if url.is_empty() {
        found.push(
            Finding::error(
                "rate_limit.redis_url",
                "the redis backend needs a redis_url (redis://host:port/db or rediss://...)",
            )
            .everywhere(),
        );
        return found;
    }
    match url::Url::parse(url) {
        Ok(parsed) if parsed.scheme() == "rediss" => {}
        Ok(parsed) if parsed.scheme() == "redis" => {
            let loopback = match parsed.host() {
                Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if !loopback {
                let message =
                    "plain redis:// to another host sends budgets and events unencrypted: use rediss://";
                found.push(if production {
                    Finding::error("rate_limit.redis_url", message)
                } else {
                    Finding::warning("rate_limit.redis_url", message)
                });
            }
        }
        _ => found.push(
            Finding::error(
                "rate_limit.redis_url",
                "not a Redis URL: write redis://host:port/db or rediss://host:port/db",
            )
            .everywhere(),
        ),
    }
    if matches!(settings.database_url, crate::config::DatabaseUrl::Sqlite(_)) {
        found.push(Finding::warning(
            "rate_limit.backend",
            "with SQLite there is one instance by construction: redis only adds a round trip; use PostgreSQL to run several",
        ));
    }
    found
}

/// Every finding, errors first. `secret` is the configured secret, if any.
pub fn findings(settings: &Settings, secret: Option<&SecretKey>) -> Vec<Finding> {
    let production = settings.env == Environment::Production;
    let mut found = Vec::new();

    match secret.map(SecretKey::weakness) {
        None if production => found.push(Finding::error(
            "secret",
            "no secret is set: set RAMPART_SECRET_KEY or RAMPART_SECRET_KEY_FILE (at least 32 random bytes)",
        )),
        None => found.push(Finding::warning(
            "secret",
            "no secret is set: a random one is generated per process, so tokens and sessions end at every restart",
        )),
        Some(Some(weakness)) => found.push(
            Finding::error("secret", format!("{weakness}: use at least 32 random bytes")).everywhere(),
        ),
        Some(None) => {}
    }

    let any_origin = settings.cors.allow_origins.contains(&AllowedOrigin::Any);
    if any_origin && settings.cors.allow_credentials {
        found.push(
            Finding::error(
                "cors.allow_origins",
                "`*` cannot be combined with allow_credentials: list the exact origins",
            )
            .everywhere(),
        );
    } else if any_origin && production {
        found.push(Finding::error(
            "cors.allow_origins",
            "`*` lets every web site call the API in production: list the exact origins",
        ));
    } else if any_origin {
        found.push(Finding::warning(
            "cors.allow_origins",
            "`*` lets every web site call the API",
        ));
    }
    if settings.cors.allow_credentials {
        let star_header = settings.cors.allow_headers.iter().any(|h| h.0.as_str() == "*");
        let star_method = settings.cors.allow_methods.iter().any(|m| m.0.as_str() == "*");
        for (star, key) in [
            (star_header, "cors.allow_headers"),
            (star_method, "cors.allow_methods"),
        ] {
            if star {
                found.push(
                    Finding::error(
                        key,
                        "`*` is no wildcard when credentials are allowed (browsers read it literally): list the names",
                    )
                    .everywhere(),
                );
            }
        }
    }
    if settings.rate_limit.backend == crate::config::RateLimitBackend::Redis {
        found.extend(redis_findings(settings, production));
    }
    if production {
        for origin in &settings.cors.allow_origins {
            if let AllowedOrigin::Exact(origin) = origin
                && origin.starts_with("http://")
            {
                found.push(Finding::warning(
                    "cors.allow_origins",
                    format!("{origin} is not HTTPS: its pages can be altered in transit"),
                ));
            }
        }
    }

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
    if let Some(gateway) = &settings.gateway {
        found.extend(gateway_findings(settings, gateway, production));
    } else if settings.auth.algorithm == super::SigningAlgorithm::HS256 {
        found.push(Finding::warning(
            "auth.algorithm",
            "HS256 tokens cannot be verified by other services without sharing the signing key",
        ));
    }
    if settings.public_registration {
        found.push(Finding::warning(
            "public_registration",
            "anyone can create an account with POST /users",
        ));
    }
    if let Some(tls) = &settings.tls
        && tls.hsts_max_age.get().as_secs() < 180 * 86_400
    {
        found.push(Finding::warning(
            "tls.hsts_max_age",
            "HSTS shorter than 180 days gives little protection (OWASP HTTP headers cheat sheet)",
        ));
    }

    found.sort_by_key(|f| std::cmp::Reverse(f.level));
    found
}

/// What `[gateway]` needs: an asymmetric signing key (the upstream
/// verifies assertions with the public half, and an HS256 secret would let
/// it mint tokens), TLS to an upstream on a public address, time-outs
/// that are not zero.
fn gateway_findings(settings: &Settings, gateway: &GatewaySettings, production: bool) -> Vec<Finding> {
    let mut found = Vec::new();
    if settings.auth.algorithm == super::SigningAlgorithm::HS256 {
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
        found.push(if production {
            Finding::error("gateway.upstream", message)
        } else {
            Finding::warning("gateway.upstream", message)
        });
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

fn is_private(ip: std::net::IpAddr) -> bool {
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
        return Some(if production {
            Finding::error(KEY, message)
        } else {
            Finding::warning(KEY, message)
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn strong() -> SecretKey {
        SecretKey::new(b"a-perfectly-random-looking-secret-value-0123456789".to_vec())
    }

    fn production() -> Settings {
        let mut settings = Settings {
            env: Environment::Production,
            ..Settings::default()
        };
        settings.proxy.trusted = vec!["10.0.0.0/8".parse().unwrap()];
        settings
    }

    #[test]
    fn a_sound_production_configuration_has_no_errors() {
        let found = findings(&production(), Some(&strong()));
        assert!(found.iter().all(|f| f.level == Level::Warning), "{found:?}");
    }

    #[test]
    fn missing_secret_is_an_error_only_in_production() {
        let found = findings(&production(), None);
        assert!(
            found
                .iter()
                .any(|f| f.key == "secret" && f.refuses_start(Environment::Production))
        );
        let found = findings(&Settings::default(), None);
        let secret = found.iter().find(|f| f.key == "secret").unwrap();
        assert_eq!(secret.level, Level::Warning);
    }

    #[test]
    fn weak_secret_refuses_start_everywhere() {
        let weak = SecretKey::new(b"changeme".to_vec());
        let found = findings(&Settings::default(), Some(&weak));
        assert!(
            found
                .iter()
                .any(|f| f.key == "secret" && f.refuses_start(Environment::Development))
        );
    }

    #[test]
    fn star_origin_rules() {
        let mut settings = Settings::default();
        settings.cors.allow_origins = vec![AllowedOrigin::Any];
        let found = findings(&settings, Some(&strong()));
        assert!(
            found
                .iter()
                .any(|f| f.key == "cors.allow_origins" && f.refuses_start(Environment::Development))
        );

        settings.cors.allow_credentials = false;
        let found = findings(&settings, Some(&strong()));
        assert!(
            found
                .iter()
                .any(|f| f.key == "cors.allow_origins" && f.level == Level::Warning)
        );

        let mut settings = production();
        settings.cors.allow_origins = vec![AllowedOrigin::Any];
        settings.cors.allow_credentials = false;
        let found = findings(&settings, Some(&strong()));
        assert!(
            found
                .iter()
                .any(|f| f.key == "cors.allow_origins" && f.refuses_start(Environment::Production))
        );
    }

    #[test]
    fn production_without_tls_or_trusted_proxy_is_an_error() {
        let mut settings = production();
        settings.proxy.trusted.clear();
        let found = findings(&settings, Some(&strong()));
        assert!(found.iter().any(|f| f.key == "tls" && f.level == Level::Error));
    }

    fn trusting(nets: &str, settings: &mut Settings) -> Vec<Finding> {
        settings.proxy.trusted = nets.split(',').map(|n| n.parse().unwrap()).collect();
        findings(settings, Some(&strong()))
            .into_iter()
            .filter(|f| f.key == "proxy.trusted")
            .collect()
    }

    #[test]
    fn trusting_everything_or_more_than_a_slash_8_is_an_error_in_production() {
        for nets in [
            "0.0.0.0/0",
            "::/0",
            "0.0.0.0/1",
            "8.0.0.0/7",
            "2000::/3",
            "2001:db8::/31",
        ] {
            let found = trusting(nets, &mut production());
            assert_eq!(found.len(), 1, "{nets}: {found:?}");
            assert!(found[0].refuses_start(Environment::Production), "{nets}");
            assert!(found[0].message.starts_with(nets), "{}", found[0].message);

            let found = trusting(nets, &mut Settings::default());
            assert_eq!(found.len(), 1, "{nets}: {found:?}");
            assert_eq!(found[0].level, Level::Warning, "{nets}");
        }
        let found = trusting("0.0.0.0/0,::/0", &mut production());
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].message.contains("holds every address"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn public_proxy_ranges_warn_and_private_ones_pass() {
        for nets in ["104.16.0.0/13", "198.51.100.7", "2606:4700::/32", "11.0.0.0/8"] {
            let found = trusting(nets, &mut production());
            assert_eq!(found.len(), 1, "{nets}: {found:?}");
            assert_eq!(found[0].level, Level::Warning, "{nets}");
            assert!(
                found[0].message.contains("public addresses"),
                "{}",
                found[0].message
            );
        }
        for nets in [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.1.1",
            "127.0.0.1",
            "100.64.0.0/10",
            "::1",
            "fd00:1234::/48",
            "fe80::/64",
        ] {
            assert_eq!(trusting(nets, &mut production()), vec![], "{nets}");
        }
    }

    #[test]
    fn errors_come_first() {
        let mut settings = production();
        settings.proxy.trusted.clear();
        settings.public_registration = true;
        let found = findings(&settings, None);
        let first_warning = found.iter().position(|f| f.level == Level::Warning).unwrap();
        assert!(found[first_warning..].iter().all(|f| f.level == Level::Warning));
    }
}
