//! `rampart config check`: every finding about the effective configuration.
//!
//! The same findings gate `rampart serve`: in production any error-level
//! finding refuses the start; a few are refused in every environment because
//! no environment makes them safe (a weak secret that was set explicitly,
//! `*` with credentials).
//!
//! One file per subject, as oauth2-proxy validates its options
//! (`pkg/validation`): the secret, CORS, the Redis backend, the network
//! (trusted proxies, TLS, the admin listener), passkeys, the OpenID
//! providers, the gateway.

mod cors;
mod gateway;
mod network;
mod oidc;
mod passkeys;
mod redis;
mod secret;

use std::fmt;

use super::{Environment, Settings, secret::SecretKey};

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

    pub(super) fn warning(key: &'static str, message: impl Into<String>) -> Self {
        Self {
            level: Level::Warning,
            key,
            message: message.into(),
            refused_everywhere: false,
        }
    }

    /// An error in production, a warning elsewhere: what is only safe on
    /// a developer's machine.
    pub(super) fn in_production(production: bool, key: &'static str, message: impl Into<String>) -> Self {
        if production {
            Self::error(key, message)
        } else {
            Self::warning(key, message)
        }
    }

    pub(super) fn everywhere(mut self) -> Self {
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
    found.extend(secret::findings(secret, production));
    found.extend(cors::findings(&settings.cors, production));
    if settings.rate_limit.backend == super::RateLimitBackend::Redis {
        found.extend(redis::findings(settings, production));
    }
    found.extend(network::findings(settings, production));
    found.extend(passkeys::findings(&settings.auth.webauthn_rp_id));
    found.extend(oidc::findings(&settings.oidc.providers, production));
    if let Some(gateway) = &settings.gateway {
        found.extend(gateway::findings(settings, gateway, production));
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
    found.sort_by_key(|f| std::cmp::Reverse(f.level));
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AllowedOrigin;

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
    fn every_subject_is_checked() {
        let mut settings = production();
        settings.cors.allow_origins = vec!["http://app.example.com".parse().unwrap()];
        settings.tls = Some(crate::config::TlsSettings {
            cert: "cert.pem".into(),
            key: "key.pem".into(),
            redirect_http_from: None,
            hsts_max_age: crate::config::ConfigDuration::from_secs(86_400),
        });
        settings.public_registration = true;
        settings.auth.algorithm = crate::config::SigningAlgorithm::HS256;
        settings.admin_bind = "0.0.0.0:9100".parse().unwrap();
        let keys: Vec<&str> = findings(&settings, None).iter().map(|f| f.key).collect();
        for key in [
            "secret",
            "cors.allow_origins",
            "tls.hsts_max_age",
            "admin_bind",
            "auth.algorithm",
            "public_registration",
        ] {
            assert!(keys.contains(&key), "{key} in {keys:?}");
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
