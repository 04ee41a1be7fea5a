//! Typed configuration (SPEC section 2): built-in defaults < TOML file <
//! `RAMPART_*` environment, read once at start into [`Settings`].
//!
//! Every table denies unknown keys, so a typo is an error that names the key
//! instead of a setting silently ignored.

mod allowed_origin;
pub mod check;
mod duration;
pub mod gateway;
mod list;
mod load;
pub mod oidc;
mod rate;
pub mod secret;

use std::{net::SocketAddr, num::NonZeroUsize, path::PathBuf};

use ipnet::IpNet;
use serde::Deserialize;

pub use allowed_origin::AllowedOrigin;
pub use duration::ConfigDuration;
pub use load::{ConfigError, load};
pub use rate::{RatePeriod, RatePolicy};

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub env: Environment,
    pub bind: SocketAddr,
    pub admin_bind: SocketAddr,
    pub database_url: DatabaseUrl,
    pub public_registration: bool,
    /// Whether `/docs`, `/docs/*` and `/openapi.json` are served. The route
    /// inventory helps whoever probes the API as much as its users (OWASP
    /// API9:2023, improper inventory management; ASVS 5.0 13.4.5): a
    /// deployment whose clients need no live documentation turns it off.
    pub docs: bool,
    pub tls: Option<TlsSettings>,
    pub proxy: ProxySettings,
    pub cors: CorsSettings,
    pub rate_limit: RateLimitSettings,
    pub auth: AuthSettings,
    pub limits: LimitSettings,
    pub audit: AuditSettings,
    /// `[gateway]`: rampart in front of an existing API (SPEC section 6).
    pub gateway: Option<gateway::GatewaySettings>,
    /// `[[oidc.providers]]`: sign-in through OpenID Connect (SPEC section 8).
    pub oidc: oidc::OidcSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            env: Environment::Development,
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            admin_bind: SocketAddr::from(([127, 0, 0, 1], 9100)),
            database_url: "sqlite://rampart.db".parse().expect("valid default"),
            public_registration: false,
            docs: true,
            tls: None,
            proxy: ProxySettings::default(),
            cors: CorsSettings::default(),
            rate_limit: RateLimitSettings::default(),
            auth: AuthSettings::default(),
            limits: LimitSettings::default(),
            audit: AuditSettings::default(),
            gateway: None,
            oidc: oidc::OidcSettings::default(),
        }
    }
}

impl Settings {
    /// The prefix of every Redis key and channel: `rate_limit.redis_prefix`,
    /// else one derived from `database_url` (a digest, so the URL and any
    /// password in it stay out of Redis): deployments sharing one Redis
    /// never see each other's budgets or events, and instances of one
    /// deployment always share theirs.
    /// Where rampart's own routes are mounted: `gateway.own_prefix`, or
    /// nothing (`""`).
    pub fn own_prefix(&self) -> &str {
        self.gateway
            .as_ref()
            .and_then(|gateway| gateway.own_prefix.as_ref())
            .map_or("", |prefix| prefix.as_str())
    }

    pub fn redis_prefix(&self) -> String {
        if !self.rate_limit.redis_prefix.is_empty() {
            return self.rate_limit.redis_prefix.clone();
        }
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.database_url.as_str().as_bytes());
        let short: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        format!("rampart:{short}:")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Production,
}

/// Where the data lives. Parsed at load, so a typo in the scheme is a
/// configuration error rather than a failure at first query.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum DatabaseUrl {
    Sqlite(String),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Sqlite(url) | Self::Postgres(url) => url,
        }
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(url.to_owned()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(url.to_owned()))
        } else {
            Err("the database URL must start with sqlite:// or postgres://".to_owned())
        }
    }
}

impl TryFrom<String> for DatabaseUrl {
    type Error = String;

    fn try_from(url: String) -> Result<Self, Self::Error> {
        url.parse()
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    pub cert: PathBuf,
    pub key: PathBuf,
    #[serde(default)]
    pub redirect_http_from: Option<SocketAddr>,
    #[serde(default = "TlsSettings::default_hsts_max_age")]
    pub hsts_max_age: ConfigDuration,
}

impl TlsSettings {
    fn default_hsts_max_age() -> ConfigDuration {
        ConfigDuration::from_secs(365 * 86_400)
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProxySettings {
    /// Peers whose `X-Forwarded-For` / `X-Forwarded-Proto` are believed. A bare
    /// address is a single-host network.
    #[serde(deserialize_with = "list::deserialize")]
    pub trusted: Vec<TrustedNet>,
}

/// A CIDR block, or a single address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustedNet(pub IpNet);

impl std::str::FromStr for TrustedNet {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{text}` is not a CIDR block or an IP address");
        if text.contains('/') {
            text.parse().map(Self).map_err(|_| bad())
        } else {
            text.parse::<std::net::IpAddr>()
                .map(|ip| Self(IpNet::from(ip)))
                .map_err(|_| bad())
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsSettings {
    #[serde(deserialize_with = "list::deserialize")]
    pub allow_origins: Vec<AllowedOrigin>,
    pub allow_credentials: bool,
    #[serde(deserialize_with = "list::deserialize")]
    pub allow_methods: Vec<HttpMethod>,
    #[serde(deserialize_with = "list::deserialize")]
    pub allow_headers: Vec<HeaderName>,
    pub max_age: ConfigDuration,
}

impl Default for CorsSettings {
    fn default() -> Self {
        let parse_all = |items: &[&str]| items.iter().map(|i| i.parse().expect("valid default")).collect();
        Self {
            allow_origins: Vec::new(),
            allow_credentials: true,
            allow_methods: parse_all(&["GET", "POST", "PUT", "PATCH", "DELETE"]),
            allow_headers: ["authorization", "content-type", "x-csrf-token", "x-request-id"]
                .iter()
                .map(|h| h.parse().expect("valid default"))
                .collect(),
            max_age: ConfigDuration::from_secs(600),
        }
    }
}

/// An HTTP method name, checked at load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpMethod(pub http::Method);

impl std::str::FromStr for HttpMethod {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.to_ascii_uppercase()
            .parse()
            .map(Self)
            .map_err(|_| format!("`{text}` is not an HTTP method"))
    }
}

/// An HTTP header name, checked at load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderName(pub http::HeaderName);

impl std::str::FromStr for HeaderName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse()
            .map(Self)
            .map_err(|_| format!("`{text}` is not an HTTP header name"))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitBackend {
    Memory,
    Redis,
}

/// What limited routes do while Redis is unreachable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedisFailure {
    /// Per-instance budgets in memory until Redis is back (N instances
    /// then allow up to N times a budget).
    Local,
    /// 503 on every limited route.
    Deny,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    pub backend: RateLimitBackend,
    pub redis_url: String,
    pub redis_failure: RedisFailure,
    /// Empty: derived from `database_url` ([`Settings::redis_prefix`]).
    pub redis_prefix: String,
    pub default: RatePolicy,
    pub login: RatePolicy,
    pub login_per_username: RatePolicy,
    pub docs: RatePolicy,
    pub max_tracked_keys: NonZeroUsize,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            backend: RateLimitBackend::Memory,
            redis_url: String::new(),
            redis_failure: RedisFailure::Local,
            redis_prefix: String::new(),
            default: "120/minute".parse().expect("valid default"),
            login: "5/minute".parse().expect("valid default"),
            login_per_username: "20/hour".parse().expect("valid default"),
            docs: "600/minute".parse().expect("valid default"),
            max_tracked_keys: NonZeroUsize::new(100_000).expect("non-zero"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum SigningAlgorithm {
    EdDSA,
    ES256,
    RS256,
    HS256,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    pub algorithm: SigningAlgorithm,
    pub access_token_ttl: ConfigDuration,
    pub refresh_token_ttl: ConfigDuration,
    pub key_rotation_interval: ConfigDuration,
    pub issuer: String,
    pub audience: String,
    /// Who must show a second factor (SPEC section 7).
    pub mfa: MfaPolicy,
    /// Passkeys' relying party id; empty: the host a request came to.
    pub webauthn_rp_id: String,
    /// `false`: no password sign-in at all (the providers of section 8 are
    /// the only way in).
    pub password_login: bool,
}

/// `auth.mfa`: whose credentials need a second factor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MfaPolicy {
    /// Nobody's: a factor is each user's choice.
    #[default]
    Optional,
    /// Users with the `admin` role.
    Admins,
    /// Everyone.
    All,
}

impl MfaPolicy {
    /// Whether a user with these roles must have a second factor.
    pub fn covers(self, is_admin: bool) -> bool {
        match self {
            Self::Optional => false,
            Self::Admins => is_admin,
            Self::All => true,
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            algorithm: SigningAlgorithm::EdDSA,
            access_token_ttl: ConfigDuration::from_secs(15 * 60),
            refresh_token_ttl: ConfigDuration::from_secs(14 * 86_400),
            key_rotation_interval: ConfigDuration::from_secs(86_400),
            issuer: "rampart".to_owned(),
            audience: "rampart-api".to_owned(),
            mfa: MfaPolicy::Optional,
            webauthn_rp_id: String::new(),
            password_login: true,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    pub max_body_bytes: usize,
    pub request_timeout: ConfigDuration,
    /// Connections served at once on the public listener; further ones wait
    /// in the kernel's accept queue (not in SPEC's sample; see README).
    pub max_connections: NonZeroUsize,
    /// Connections open at once from one client IP (IPv6: its /64); more
    /// are closed at accept. Peers in `proxy.trusted` are exempt.
    pub max_connections_per_client: NonZeroUsize,
    /// A connection that moves no byte for this long is closed (not in
    /// SPEC's sample; see README).
    pub idle_timeout: ConfigDuration,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 1_048_576,
            request_timeout: ConfigDuration::from_secs(30),
            max_connections: NonZeroUsize::new(10_000).expect("non-zero"),
            max_connections_per_client: NonZeroUsize::new(256).expect("non-zero"),
            idle_timeout: ConfigDuration::from_secs(60),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    /// Audit events older than this are purged in the background, so the
    /// table cannot grow without bound.
    pub retention: ConfigDuration,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            retention: ConfigDuration::from_secs(90 * 24 * 3600),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redis_prefix_is_the_deployments_own() {
        let at = |url: &str| Settings {
            database_url: url.parse().unwrap(),
            ..Settings::default()
        };
        let one = at("postgres://rampart:pw@db.internal/app").redis_prefix();
        let again = at("postgres://rampart:pw@db.internal/app").redis_prefix();
        let other = at("postgres://rampart:pw@db.internal/staging").redis_prefix();
        assert_eq!(one, again, "instances of one deployment share it");
        assert_ne!(one, other, "deployments sharing a Redis do not");
        assert!(one.starts_with("rampart:") && !one.contains("pw"), "{one}");
        let mut named = at("postgres://rampart:pw@db.internal/app");
        named.rate_limit.redis_prefix = "shop:".into();
        assert_eq!(named.redis_prefix(), "shop:");
    }
}
