//! Why a sign-in through an OpenID provider failed.

use super::identity::Refusal;
use crate::store::StoreError;

/// Why a sign-in through a provider failed.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("no such provider")]
    UnknownProvider,
    #[error("the provider's discovery document is not available")]
    Unavailable,
    /// The callback's `state` is not the cookie's, or the cookie is gone
    /// or expired (SPEC: 400).
    #[error("the sign-in's state does not match")]
    State,
    /// The provider answered `error`, or named another issuer (RFC 9207).
    #[error("the provider refused: {0}")]
    Provider(String),
    #[error("the code exchange failed: {0}")]
    Exchange(String),
    #[error("the ID token is not valid: {0}")]
    IdToken(String),
    #[error("{0}")]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}
