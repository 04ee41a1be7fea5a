//! `[[oidc.providers]]` (SPEC section 8): the OpenID Connect providers
//! people may sign in with. Each provider's client secret comes only from
//! the environment (`RAMPART_OIDC__{NAME}__CLIENT_SECRET`), read on its own
//! into a type that cannot be printed.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, de::Error as _};

/// `[oidc]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcSettings {
    pub providers: Vec<OidcProvider>,
}

/// One provider.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProvider {
    /// `[a-z0-9-]`: part of its URLs (`/login/oidc/{name}`).
    pub name: ProviderName,
    /// The sign-in page's link; the name when unset.
    #[serde(default)]
    pub display_name: String,
    /// Where discovery starts (`{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    pub client_id: String,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim the username comes from (else `email`, else `sub`).
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// When non-empty, `email` must be in one of these domains and
    /// `email_verified` true.
    #[serde(default)]
    pub allowed_email_domains: Vec<String>,
    /// A claim whose values map to roles, through `role_map`.
    #[serde(default)]
    pub role_claim: Option<String>,
    #[serde(default)]
    pub role_map: BTreeMap<String, String>,
    /// The provider's JWT access tokens are bearer tokens here.
    #[serde(default)]
    pub accept_bearer: bool,
    #[serde(default = "default_bearer_audience")]
    pub bearer_audience: String,
    /// From the environment, never the file: set by
    /// [`OidcProvider::read_secret`].
    #[serde(skip)]
    pub client_secret: Option<ClientSecret>,
}

/// A provider's client secret: printed as redacted.
#[derive(Clone)]
pub struct ClientSecret(pub SecretString);

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret([REDACTED])")
    }
}

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(str::to_owned).to_vec()
}

fn default_username_claim() -> String {
    "preferred_username".to_owned()
}

fn default_bearer_audience() -> String {
    "rampart-api".to_owned()
}

/// A provider's name: 1-32 of `[a-z0-9-]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProviderName(String);

impl ProviderName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn parse(text: &str) -> Option<Self> {
        let valid = (1..=32).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        valid.then(|| Self(text.to_owned()))
    }
}

impl<'de> Deserialize<'de> for ProviderName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).ok_or_else(|| D::Error::custom(format!("{text:?} is not 1-32 of [a-z0-9-]")))
    }
}

impl OidcProvider {
    /// The environment variable that holds this provider's client secret.
    pub fn secret_variable(&self) -> String {
        format!(
            "RAMPART_OIDC__{}__CLIENT_SECRET",
            self.name.as_str().to_ascii_uppercase().replace('-', "_")
        )
    }

    /// Reads the client secret from the environment (none: a public
    /// client).
    pub fn read_secret(&mut self) {
        self.client_secret = std::env::var(self.secret_variable())
            .ok()
            .filter(|secret| !secret.is_empty())
            .map(|secret| ClientSecret(SecretString::from(secret)));
    }

    /// What the sign-in page's link says.
    pub fn label(&self) -> &str {
        if self.display_name.is_empty() {
            self.name.as_str()
        } else {
            &self.display_name
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_url_safe() {
        assert!(ProviderName::parse("corp").is_some());
        assert!(ProviderName::parse("corp-2").is_some());
        for bad in ["", "Corp", "corp_sso", "a/b", &"x".repeat(33)] {
            assert!(ProviderName::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_secret_variable_upper_cases_the_name() {
        let provider: OidcProvider =
            figment::Figment::from(<figment::providers::Toml as figment::providers::Format>::string(
                "name = \"corp-sso\"\nissuer = \"https://idp.example.com\"\nclient_id = \"rampart\"\n",
            ))
            .extract()
            .unwrap();
        assert_eq!(
            provider.secret_variable(),
            "RAMPART_OIDC__CORP_SSO__CLIENT_SECRET"
        );
        assert_eq!(provider.scopes, ["openid", "email", "profile"]);
        assert_eq!(provider.label(), "corp-sso");
        assert!(format!("{:?}", ClientSecret(SecretString::from("hunter2"))).contains("REDACTED"));
    }
}
