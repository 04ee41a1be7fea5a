//! What an access token says (its claims) and why one is refused: shared by
//! the token service that issues and verifies tokens and the invalidation
//! state that can overrule a valid signature.

use serde::{Deserialize, Serialize};

use super::amr::Amr;

/// Clock leeway on `exp` and `nbf`, in seconds (SPEC section 3: at most
/// 30 s). Here, below both the token service that verifies with it and the
/// key ring that keeps a retired key verifying that much longer.
pub const LEEWAY_SECS: u64 = 30;

/// The claims of an access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub roles: Vec<String>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    pub iss: String,
    pub aud: String,
    /// The user's token version when issued; a later change of password,
    /// roles or enabled state bumps it and so invalidates this token.
    pub ver: i64,
    /// How the user signed in (RFC 8176); a refreshed token keeps its
    /// login's.
    #[serde(default)]
    pub amr: Amr,
}

impl AccessClaims {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Why a token was refused (logged and counted; the client only ever sees
/// "Invalid authentication credentials").
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed")]
    Malformed,
    #[error("wrong algorithm")]
    WrongAlgorithm,
    #[error("wrong type")]
    WrongType,
    #[error("unknown key")]
    UnknownKey,
    #[error("bad signature or claims")]
    Invalid,
    #[error("expired")]
    Expired,
    #[error("revoked")]
    Revoked,
    #[error("user invalidated")]
    UserInvalidated,
}

impl TokenError {
    /// A label for metrics.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::WrongAlgorithm => "wrong_algorithm",
            Self::WrongType => "wrong_type",
            Self::UnknownKey => "unknown_kid",
            Self::Invalid => "invalid",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::UserInvalidated => "user_invalidated",
        }
    }
}
