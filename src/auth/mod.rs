//! Authentication and accounts: passwords, tokens, keys, and the extractors
//! that carry the caller's identity into handlers.

pub mod extract;
pub mod invalidation;
pub mod keyring;
pub mod keys;
pub mod names;
pub mod password;
pub mod service;
pub mod tokens;

use std::sync::Arc;

use http::HeaderMap;

use self::tokens::{AccessClaims, TokenError, TokenService};

/// What the request's credentials say, decided once per request by the
/// envelope and read by the extractors.
#[derive(Clone, Debug)]
pub enum Authentication {
    /// No credentials.
    Anonymous,
    /// A valid bearer token.
    Bearer(Arc<AccessClaims>),
    /// Credentials that do not verify.
    Invalid(TokenError),
}

/// Reads the bearer token of `Authorization` (RFC 6750 section 2.1; tokens
/// in the query string are never read, section 2.3 and RFC 8725).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Authenticates a request from its headers.
pub async fn authenticate(tokens: &TokenService, headers: &HeaderMap) -> Authentication {
    if headers.get(http::header::AUTHORIZATION).is_none() {
        return Authentication::Anonymous;
    }
    let Some(token) = bearer_token(headers) else {
        return Authentication::Invalid(TokenError::Malformed);
    };
    match tokens.verify(token).await {
        Ok(claims) => Authentication::Bearer(claims),
        Err(err) => {
            metrics::counter!(crate::observability::metrics::AUTH_FAILURES, "reason" => err.reason())
                .increment(1);
            Authentication::Invalid(err)
        }
    }
}
