//! The OpenID providers (SPEC section 8): what each one's settings say
//! before any request is made. (A public client whose provider does not
//! advertise PKCE is refused at start, once its discovery document is
//! read: `auth::oidc`.)

use super::Finding;
use crate::{config::oidc::OidcProvider, names::Role};

/// Whether `issuer` is plain HTTP to a host other than this machine.
fn plain_http_elsewhere(issuer: &str) -> bool {
    let Ok(url) = url::Url::parse(issuer) else {
        return false;
    };
    let loopback = match url.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    url.scheme() == "http" && !loopback
}

pub(super) fn findings(providers: &[OidcProvider], production: bool) -> Vec<Finding> {
    let mut found = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for provider in providers {
        let name = provider.name.as_str();
        if !names.insert(name) {
            found.push(
                Finding::error("oidc.providers", format!("{name}: two providers have this name"))
                    .everywhere(),
            );
        }
        match url::Url::parse(&provider.issuer) {
            Ok(url) if matches!(url.scheme(), "https" | "http") => {}
            _ => found.push(
                Finding::error(
                    "oidc.providers",
                    format!("{name}: issuer {:?} is not an http(s) URL", provider.issuer),
                )
                .everywhere(),
            ),
        }
        if !provider.scopes.iter().any(|scope| scope == "openid") {
            found.push(
                Finding::error(
                    "oidc.providers",
                    format!("{name}: scopes lack \"openid\": the provider would send no ID token"),
                )
                .everywhere(),
            );
        }
        if plain_http_elsewhere(&provider.issuer) {
            found.push(Finding::in_production(
                production,
                "oidc.providers",
                format!("{name}: the issuer is plain HTTP to another machine: its keys and tokens could be changed on the way"),
            ));
        }
        for role in provider.role_map.values() {
            if Role::parse(role).is_err() {
                found.push(
                    Finding::error(
                        "oidc.providers",
                        format!("{name}: role_map names {role:?}, which is not a valid role"),
                    )
                    .everywhere(),
                );
            }
        }
        if provider.client_secret.is_none() {
            found.push(Finding::warning(
                "oidc.providers",
                format!(
                    "{name}: no {} in the environment: a public client (PKCE alone proves it)",
                    provider.secret_variable()
                ),
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::check::Level;

    fn provider(extra: &str) -> OidcProvider {
        figment::Figment::from(<figment::providers::Toml as figment::providers::Format>::string(
            &format!("name = \"corp\"\nclient_id = \"rampart\"\n{extra}"),
        ))
        .extract()
        .unwrap()
    }

    fn levels(extra: &str, production: bool) -> Vec<(Level, bool)> {
        findings(&[provider(extra)], production)
            .iter()
            .filter(|f| !f.message.contains("public client"))
            .map(|f| (f.level, f.refused_everywhere))
            .collect()
    }

    #[test]
    fn each_provider_is_checked() {
        assert_eq!(levels("issuer = \"https://idp.example.com\"", true), []);
        assert_eq!(levels("issuer = \"http://localhost:8080\"", true), []);
        assert_eq!(
            levels("issuer = \"http://idp.example.com\"", true),
            [(Level::Error, false)]
        );
        assert_eq!(
            levels("issuer = \"http://idp.example.com\"", false),
            [(Level::Warning, false)]
        );
        assert_eq!(
            levels(
                "issuer = \"https://idp.example.com\"\nscopes = [\"email\"]",
                false
            ),
            [(Level::Error, true)]
        );
        assert_eq!(
            levels(
                "issuer = \"https://idp.example.com\"\nrole_map = { ops = \"Not A Role\" }",
                false
            ),
            [(Level::Error, true)]
        );
        assert_eq!(
            levels("issuer = \"idp.example.com\"", false),
            [(Level::Error, true)]
        );
        let public = findings(&[provider("issuer = \"https://idp.example.com\"")], false);
        assert!(
            public
                .iter()
                .any(|f| f.message.contains("RAMPART_OIDC__CORP__CLIENT_SECRET"))
        );
        let twice = findings(
            &[
                provider("issuer = \"https://a.example\""),
                provider("issuer = \"https://b.example\""),
            ],
            false,
        );
        assert!(twice.iter().any(|f| f.message.contains("two providers")));
    }
}
