//! The Redis backend of the rate limits: a URL, TLS to a Redis on another
//! host, and a database several instances can share.

use super::Finding;
use crate::config::{DatabaseUrl, Settings};

/// What `rate_limit.backend = "redis"` needs: a URL, TLS to a Redis that is
/// not on this host, and a database that several instances can share.
pub(super) fn findings(settings: &Settings, production: bool) -> Vec<Finding> {
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
                found.push(Finding::in_production(
                    production,
                    "rate_limit.redis_url",
                    message,
                ));
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
    if matches!(settings.database_url, DatabaseUrl::Sqlite(_)) {
        found.push(Finding::warning(
            "rate_limit.backend",
            "with SQLite there is one instance by construction: redis only adds a round trip; use PostgreSQL to run several",
        ));
    }
    found
}
