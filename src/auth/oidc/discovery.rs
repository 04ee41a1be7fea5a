//! A provider's discovery document and key set (OpenID Connect Discovery
//! 1.0): read at start, retried for 30 seconds, then again every hour
//! (`app::upkeep`). What it says is held whole and swapped whole, so a
//! sign-in reads one document, never half of two.

use std::{
    sync::atomic::{AtomicI64, Ordering},
    time::Duration,
};

use arc_swap::ArcSwapOption;
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreProviderMetadata};
use serde_json::Value;

use super::http::ProviderHttp;
use crate::{config::oidc::OidcProvider, store::now_ms};

/// How long the start waits for a provider's document.
pub const START_PATIENCE: Duration = Duration::from_secs(30);
/// How often the document is read again.
pub const REFRESH_EVERY: Duration = Duration::from_secs(3600);

/// What a provider's discovery said.
pub struct Discovered {
    pub metadata: CoreProviderMetadata,
    /// The ID-token algorithms it advertises that rampart accepts: public
    /// key ones only, never `none` or HMAC (RFC 8725 section 3.1).
    pub algorithms: Vec<CoreJwsSigningAlgorithm>,
    /// Its key set, as `jsonwebtoken` reads it (for its access tokens).
    pub bearer_keys: jsonwebtoken::jwk::JwkSet,
    /// PKCE with S256 is advertised.
    pub pkce_s256: bool,
}

impl std::fmt::Debug for Discovered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovered")
            .field("issuer", &self.metadata.issuer().as_str())
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

/// Why a discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("{0}")]
    Http(#[from] super::http::ProviderHttpError),
    #[error("{url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url} is not a valid document: {reason}")]
    Document { url: String, reason: String },
    #[error("the document names the issuer {found:?}, not {configured:?}")]
    WrongIssuer { found: String, configured: String },
    #[error("the provider advertises no public-key algorithm for ID tokens")]
    NoAlgorithm,
}

/// The ID-token algorithms rampart accepts.
fn acceptable(alg: &CoreJwsSigningAlgorithm) -> bool {
    use CoreJwsSigningAlgorithm as A;
    matches!(
        alg,
        A::RsaSsaPkcs1V15Sha256
            | A::RsaSsaPkcs1V15Sha384
            | A::RsaSsaPkcs1V15Sha512
            | A::RsaSsaPssSha256
            | A::RsaSsaPssSha384
            | A::RsaSsaPssSha512
            | A::EcdsaP256Sha256
            | A::EcdsaP384Sha384
            | A::EdDsa
    )
}

async fn get_json(http: &ProviderHttp, url: &str) -> Result<Value, DiscoveryError> {
    let request = http::Request::get(url)
        .header(http::header::ACCEPT, "application/json")
        .body(Vec::new())
        .map_err(|err| DiscoveryError::Document {
            url: url.to_owned(),
            reason: err.to_string(),
        })?;
    let response = http.send(request).await?;
    if !response.status().is_success() {
        return Err(DiscoveryError::Status {
            url: url.to_owned(),
            status: response.status().as_u16(),
        });
    }
    serde_json::from_slice(response.body()).map_err(|err| DiscoveryError::Document {
        url: url.to_owned(),
        reason: err.to_string(),
    })
}

/// Reads `provider`'s discovery document and key set once.
pub async fn discover(http: &ProviderHttp, provider: &OidcProvider) -> Result<Discovered, DiscoveryError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        provider.issuer.trim_end_matches('/')
    );
    let document = get_json(http, &url).await?;
    let pkce_s256 = document
        .get("code_challenge_methods_supported")
        .and_then(Value::as_array)
        .is_some_and(|methods| methods.iter().any(|m| m == "S256"));
    let invalid = |reason: String| DiscoveryError::Document {
        url: url.clone(),
        reason,
    };
    let metadata: CoreProviderMetadata =
        serde_json::from_value(document).map_err(|err| invalid(err.to_string()))?;
    // OpenID Connect Discovery section 4.3: the document's issuer is the
    // one asked for, exactly.
    if metadata.issuer().as_str() != provider.issuer {
        return Err(DiscoveryError::WrongIssuer {
            found: metadata.issuer().to_string(),
            configured: provider.issuer.clone(),
        });
    }
    let keys = get_json(http, metadata.jwks_uri().as_str()).await?;
    let jwks: CoreJsonWebKeySet =
        serde_json::from_value(keys.clone()).map_err(|err| invalid(err.to_string()))?;
    let bearer_keys: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(keys).unwrap_or(jsonwebtoken::jwk::JwkSet { keys: Vec::new() });
    let algorithms: Vec<_> = metadata
        .id_token_signing_alg_values_supported()
        .iter()
        .filter(|alg| acceptable(alg))
        .cloned()
        .collect();
    if algorithms.is_empty() {
        return Err(DiscoveryError::NoAlgorithm);
    }
    Ok(Discovered {
        metadata: metadata.set_jwks(jwks),
        algorithms,
        bearer_keys,
        pkce_s256,
    })
}

/// A provider's latest document, swapped whole, and when it was last read
/// (or a re-read was last tried).
#[derive(Debug, Default)]
pub struct Latest {
    current: ArcSwapOption<Discovered>,
    /// Milliseconds since the Unix epoch.
    tried_at: AtomicI64,
}

/// How often a token that names a key the set lacks may have it read again.
const REREAD_EVERY_MS: i64 = 60_000;

impl Latest {
    pub fn get(&self) -> Option<std::sync::Arc<Discovered>> {
        self.current.load_full()
    }

    pub fn set(&self, discovered: Discovered) {
        self.current.store(Some(std::sync::Arc::new(discovered)));
        self.tried_at.store(now_ms(), Ordering::Relaxed);
    }

    /// Claims the one re-read a minute that a token signed by a key the
    /// set lacks may cause (the provider rotated its keys): `false` when
    /// the set was read, or a re-read tried, less than a minute ago,
    /// whatever came of it. So however many such tokens arrive, and
    /// however long the provider is down, rampart asks it at most once a
    /// minute.
    pub fn claim_reread(&self) -> bool {
        let now = now_ms();
        let last = self.tried_at.load(Ordering::Relaxed);
        now - last >= REREAD_EVERY_MS
            && self
                .tried_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reread_is_claimed_once_a_minute() {
        let latest = Latest::default();
        assert!(latest.claim_reread(), "never read: the first claim wins");
        assert!(!latest.claim_reread(), "the second, at once, does not");
    }

    #[test]
    fn only_public_key_algorithms_are_accepted() {
        assert!(acceptable(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256));
        assert!(acceptable(&CoreJwsSigningAlgorithm::EcdsaP256Sha256));
        assert!(!acceptable(&CoreJwsSigningAlgorithm::HmacSha256));
        assert!(!acceptable(&CoreJwsSigningAlgorithm::None));
    }
}
