//! A provider's JWT access tokens as bearer tokens (SPEC section 8,
//! `accept_bearer`): a token whose `iss` is such a provider's is verified
//! against that provider's key set (its advertised public-key algorithms
//! only; `aud` holding `bearer_audience`; `exp` and `nbf` with 30 seconds'
//! leeway), then stands for the account linked to its (`iss`, `sub`) with
//! the roles its claims map to, and `amr` `fed`.
//!
//! The account is looked up (or created) at its first sight only: after
//! that its name is kept in memory, so such a request reads no database,
//! like one with rampart's own token. Whether the account is disabled is
//! the same in-memory state rampart's own tokens are checked against.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{Sso, discovery, identity};
use crate::auth::{
    amr::{Amr, Method},
    claims::{AccessClaims, LEEWAY_SECS, TokenError},
};

/// Accounts the bearer path has seen, by (`iss`, `sub`): their name and
/// token version.
pub type SeenAccounts = quick_cache::sync::Cache<(String, String), (String, i64)>;

/// How many accounts the bearer path remembers.
pub const SEEN_CAPACITY: usize = 100_000;

/// A provider's token, verified: whose it is and what it claims.
pub struct ProviderToken {
    pub provider: usize,
    pub issuer: String,
    pub claims: Map<String, Value>,
}

fn algorithm(alg: jsonwebtoken::Algorithm) -> bool {
    use jsonwebtoken::Algorithm as A;
    !matches!(alg, A::HS256 | A::HS384 | A::HS512)
}

/// The `iss` a JWT says it has, before anything of it is believed.
fn claimed_issuer(token: &str) -> Option<String> {
    let payload = super::flow::payload(token).ok()?;
    payload.get("iss").and_then(Value::as_str).map(str::to_owned)
}

impl Sso {
    /// Whether any provider's tokens are bearer tokens here.
    pub fn accepts_bearer(&self) -> bool {
        self.providers.iter().any(|p| p.settings.accept_bearer)
    }

    /// Verifies `token` as an access token of a provider that accepts
    /// them; `None` when no such provider claims it.
    pub async fn verify_provider_token(&self, token: &str) -> Option<Result<ProviderToken, TokenError>> {
        let issuer = claimed_issuer(token)?;
        let (index, provider) = self.providers.iter().enumerate().find(|(_, p)| {
            p.settings.accept_bearer
                && p.discovered()
                    .is_some_and(|d| d.metadata.issuer().as_str() == issuer)
        })?;
        let header = match jsonwebtoken::decode_header(token) {
            Ok(header) => header,
            Err(_) => return Some(Err(TokenError::Malformed)),
        };
        if !algorithm(header.alg) {
            return Some(Err(TokenError::WrongAlgorithm));
        }
        let mut discovered = provider.discovered()?;
        let advertised = |d: &discovery::Discovered| {
            d.algorithms
                .iter()
                .any(|alg| serde_json::to_value(alg).ok() == serde_json::to_value(header.alg).ok())
        };
        if !advertised(&discovered) {
            return Some(Err(TokenError::WrongAlgorithm));
        }
        let find = |d: &discovery::Discovered| match &header.kid {
            Some(kid) => d.bearer_keys.find(kid).cloned(),
            None => d.bearer_keys.keys.first().cloned(),
        };
        let mut jwk = find(&discovered);
        if jwk.is_none() && provider.latest.claim_reread() {
            // The provider may have rotated its keys since the last read.
            self.refresh_one(provider).await;
            discovered = provider.discovered()?;
            jwk = find(&discovered);
        }
        let Some(jwk) = jwk else {
            return Some(Err(TokenError::UnknownKey));
        };
        let Ok(key) = jsonwebtoken::DecodingKey::from_jwk(&jwk) else {
            return Some(Err(TokenError::UnknownKey));
        };
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_audience(&[&provider.settings.bearer_audience]);
        validation.set_issuer(&[&issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let verified = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).map_err(|err| {
            match err.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            }
        });
        Some(verified.map(|data| ProviderToken {
            provider: index,
            issuer,
            claims: data.claims,
        }))
    }

    /// The claims a verified provider token stands for here: the linked
    /// account (created at its first sight), the roles its claims map to,
    /// `amr` `fed`. `fresh`: read the account from the store even if it
    /// was seen (its token version moved).
    pub async fn access_claims(
        &self,
        seen: &SeenAccounts,
        token: &ProviderToken,
        fresh: bool,
    ) -> Result<Arc<AccessClaims>, TokenError> {
        let provider = &self.providers[token.provider].settings;
        let identity =
            identity::identify(provider, &token.issuer, &token.claims).map_err(|_| TokenError::Invalid)?;
        let key = (identity.issuer.clone(), identity.subject.clone());
        let known = if fresh { None } else { seen.get(&key) };
        let (username, version) = match known {
            Some(known) => known,
            None => {
                let user = self
                    .account(provider.name.as_str(), &identity)
                    .await
                    .map_err(|err| {
                        tracing::warn!(error = %err, "linking a provider token's account failed");
                        TokenError::Invalid
                    })?;
                if user.disabled {
                    return Err(TokenError::UserInvalidated);
                }
                let known = (user.username, user.token_version);
                seen.insert(key, known.clone());
                known
            }
        };
        let number = |name: &str| token.claims.get(name).and_then(Value::as_i64).unwrap_or_default();
        Ok(Arc::new(AccessClaims {
            sub: username,
            roles: identity
                .roles
                .iter()
                .map(|role| role.as_str().to_owned())
                .collect(),
            iat: number("iat"),
            nbf: number("nbf"),
            exp: number("exp"),
            jti: token
                .claims
                .get("jti")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            iss: token.issuer.clone(),
            aud: provider.bearer_audience.clone(),
            ver: version,
            amr: Amr::of(&[Method::Fed]),
        }))
    }
}
