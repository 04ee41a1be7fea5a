//! Access tokens: JWTs (RFC 7519) issued and verified per RFC 8725.
//!
//! Verification pins the configured algorithm (no `alg: none`, no HS256
//! signed with a public key), requires a known `kid`, the explicit type
//! `at+jwt` (RFC 8725 section 3.11, RFC 9068), and every claim of SPEC:
//! `exp`, `nbf` (30 s leeway at most), `iss`, `aud`, `sub`, `iat`, `jti`.
//! Revocation and user invalidation are checked against in-memory state
//! (see `invalidation`), so verifying a token touches no database.
//!
//! A signature check costs tens of microseconds (EdDSA, ES256, RS256), more
//! than the rest of a request. Tokens that verified are kept in a bounded
//! cache, keyed by the whole token string (a hit compares the full token,
//! so a hash collision cannot stand in for a signature); a hit skips only
//! the signature and claim parsing: expiry, revocation and the user's state
//! are checked on every request. Only tokens that fully verified enter it,
//! so unauthenticated callers cannot fill it.

use std::sync::Arc;

use jsonwebtoken::Validation;

use super::oidc::{
    Sso,
    bearer::{SEEN_CAPACITY, SeenAccounts},
};
use super::{
    amr::Amr,
    claims::{AccessClaims, LEEWAY_SECS, TokenError},
    invalidation::Invalidations,
    keyring::{KeyRing, TokenType},
};
use crate::config::AuthSettings;

/// The `typ` of rampart's access tokens.
pub const ACCESS_TOKEN_TYPE: &str = TokenType::Access.typ();

/// Verified tokens remembered, at most.
const VERIFIED_CACHE_CAPACITY: usize = 10_000;

/// Issues and verifies access tokens.
pub struct TokenService {
    keys: Arc<KeyRing>,
    invalidations: Arc<Invalidations>,
    validation: Validation,
    settings: AuthSettings,
    verified: quick_cache::sync::Cache<String, Verified>,
    /// The providers whose access tokens are bearer tokens too (SPEC
    /// section 8).
    providers: Option<ProviderTokens>,
}

/// What the provider-token path keeps: the providers, the accounts their
/// tokens were seen for, and the tokens that verified (so a token used
/// again costs what one of rampart's own does: no signature check).
struct ProviderTokens {
    sso: Arc<Sso>,
    seen: SeenAccounts,
    verified: quick_cache::sync::Cache<String, Arc<AccessClaims>>,
}

/// A token that verified: its claims, and the key that signed it (a token
/// whose key is revoked stops verifying, cached or not).
#[derive(Clone)]
struct Verified {
    claims: Arc<AccessClaims>,
    kid: Arc<str>,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService").finish_non_exhaustive()
    }
}

impl TokenService {
    pub fn new(keys: Arc<KeyRing>, invalidations: Arc<Invalidations>, settings: &AuthSettings) -> Self {
        let mut validation = Validation::new(super::keys::jwt_algorithm(settings.algorithm));
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub", "jti"]);
        Self {
            keys,
            invalidations,
            validation,
            settings: settings.clone(),
            verified: quick_cache::sync::Cache::new(VERIFIED_CACHE_CAPACITY),
            providers: None,
        }
    }

    /// Also accepts the access tokens of the providers with
    /// `accept_bearer`.
    pub fn with_providers(mut self, sso: Arc<Sso>) -> Self {
        if sso.accepts_bearer() {
            self.providers = Some(ProviderTokens {
                sso,
                seen: SeenAccounts::new(SEEN_CAPACITY),
                verified: quick_cache::sync::Cache::new(VERIFIED_CACHE_CAPACITY),
            });
        }
        self
    }

    /// Issues an access token for `sub`; returns it with its lifetime in seconds.
    pub fn issue(
        &self,
        sub: &str,
        roles: &[String],
        version: i64,
        amr: Amr,
    ) -> Result<(String, i64), jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let ttl = i64::try_from(self.settings.access_token_ttl.get().as_secs()).unwrap_or(i64::MAX / 2);
        let claims = AccessClaims {
            sub: sub.to_owned(),
            roles: roles.to_vec(),
            iat: now,
            nbf: now,
            exp: now + ttl,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            ver: version,
            amr,
        };
        let token = self.keys.signer().sign(TokenType::Access, &claims)?;
        Ok((token, ttl))
    }

    /// Verifies a token and everything it claims.
    pub async fn verify(&self, token: &str) -> Result<Arc<AccessClaims>, TokenError> {
        if let Some(Verified { claims, kid }) = self.verified.get(token) {
            let now = chrono::Utc::now().timestamp();
            let leeway = LEEWAY_SECS as i64;
            if claims.exp + leeway < now {
                return Err(TokenError::Expired);
            }
            if !self.keys.knows(&kid) {
                self.verified.remove(token);
                return Err(TokenError::UnknownKey);
            }
            self.invalidations.check(&claims).await?;
            return Ok(claims);
        }
        if let Some(providers) = &self.providers
            && let Some(checked) = Box::pin(self.cached_provider_token(providers, token)).await
        {
            return checked;
        }
        // Boxed: a token not seen before is the rare case, and its
        // future would otherwise enlarge every request's.
        let (claims, kid) = match Box::pin(self.verify_signature(token)).await {
            Ok(verified) => verified,
            Err(err) => {
                return match &self.providers {
                    Some(providers) => Box::pin(self.verify_provider_token(providers, token))
                        .await
                        .unwrap_or(Err(err)),
                    None => Err(err),
                };
            }
        };
        let claims = Arc::new(claims);
        self.invalidations.check(&claims).await?;
        self.verified.insert(
            token.to_owned(),
            Verified {
                claims: claims.clone(),
                kid: kid.into(),
            },
        );
        Ok(claims)
    }

    /// A provider's token that verified before, checked again as a cached
    /// token of rampart's own is; `None` when it is not (or no longer)
    /// cached.
    async fn cached_provider_token(
        &self,
        providers: &ProviderTokens,
        token: &str,
    ) -> Option<Result<Arc<AccessClaims>, TokenError>> {
        let claims = providers.verified.get(token)?;
        let now = chrono::Utc::now().timestamp();
        if claims.exp + LEEWAY_SECS as i64 >= now {
            match self.invalidations.check(&claims).await {
                Ok(()) => return Some(Ok(claims)),
                // The account's version moved: verified again.
                Err(TokenError::UserInvalidated) => {}
                Err(err) => return Some(Err(err)),
            }
        }
        providers.verified.remove(token);
        None
    }

    /// A provider's access token (`None`: no provider claims it), and the
    /// account it stands for, checked as rampart's own tokens are against
    /// the account's state. A token version moved since the account was
    /// seen is read again once.
    async fn verify_provider_token(
        &self,
        providers: &ProviderTokens,
        token: &str,
    ) -> Option<Result<Arc<AccessClaims>, TokenError>> {
        let (sso, seen) = (&providers.sso, &providers.seen);
        let verified = match sso.verify_provider_token(token).await? {
            Ok(verified) => verified,
            Err(err) => return Some(Err(err)),
        };
        let mut fresh = false;
        loop {
            let claims = match sso.access_claims(seen, &verified, fresh).await {
                Ok(claims) => claims,
                Err(err) => return Some(Err(err)),
            };
            match self.invalidations.check(&claims).await {
                Err(TokenError::UserInvalidated) if !fresh => fresh = true,
                Ok(()) => {
                    providers.verified.insert(token.to_owned(), claims.clone());
                    return Some(Ok(claims));
                }
                Err(err) => return Some(Err(err)),
            }
        }
    }

    /// The signature and claim checks alone, without the cache or the
    /// revocation and user checks (public for the benchmark).
    pub async fn verify_signed(&self, token: &str) -> Result<AccessClaims, TokenError> {
        Ok(self.verify_signature(token).await?.0)
    }

    /// The signature and claim checks; the claims and the signing `kid`.
    async fn verify_signature(&self, token: &str) -> Result<(AccessClaims, String), TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != self.validation.algorithms[0] {
            return Err(TokenError::WrongAlgorithm);
        }
        if header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Err(TokenError::WrongType);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = match self.keys.verifier(&kid) {
            Some(key) => key,
            // A key rotated in by another process appears here within a
            // refresh; a throttled reload covers the moments before.
            None => self
                .keys
                .reload_for_unknown_kid(&kid)
                .await
                .ok_or(TokenError::UnknownKey)?,
        };
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key, &self.validation).map_err(|err| {
            match err.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            }
        })?;
        Ok((data.claims, kid))
    }
}
