//! `rampart config check`: every finding about the effective configuration.
//!
//! The same findings gate `rampart serve`: in production any error-level
//! finding refuses the start; a few are refused in every environment because
//! no environment makes them safe (a weak secret that was set explicitly,
//! `*` with credentials).

use std::fmt;

use super::{AllowedOrigin, Environment, Settings, secret::SecretKey};

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
    fn error(key: &'static str, message: impl Into<String>) -> Self {
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
        found.push(
            Finding::error(
                "rate_limit.backend",
                "the redis backend is not available in this version: use \"memory\" (budgets per instance)",
            )
            .everywhere(),
        );
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

    if let Some(tls) = &settings.tls
        && let Err(err) = crate::server::tls::Certificates::load(tls)
    {
        found.push(Finding::error("tls", err.to_string()));
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
    if settings.auth.algorithm == super::SigningAlgorithm::HS256 {
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
