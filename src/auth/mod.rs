//! Authentication and accounts: passwords, tokens, keys, and the extractors
//! that carry the caller's identity into handlers.

pub mod csrf;
pub mod device;
pub mod extract;
pub mod invalidation;
pub mod keyring;
pub mod keys;
pub mod names;
pub mod password;
pub mod service;
pub mod session;
pub mod tokens;

use std::sync::Arc;

use http::HeaderMap;

use self::{
    extract::CurrentUser,
    session::{SessionId, SessionUser, Sessions},
    tokens::{AccessClaims, TokenError, TokenService},
};

/// What the request's credentials say, decided once per request by the
/// envelope and read by the extractors.
#[derive(Clone, Debug)]
pub enum Authentication {
    /// No credentials (or a session cookie of no live session).
    Anonymous,
    /// A valid bearer token.
    Bearer(Arc<AccessClaims>),
    /// The cookie of a live browser session. Unsafe methods need a CSRF
    /// token (the envelope checks it).
    Session(Arc<SessionUser>),
    /// A bearer token that does not verify.
    Invalid(TokenError),
}

impl Authentication {
    /// The caller, if the credentials name one.
    pub fn user(&self) -> Option<CurrentUser> {
        match self {
            Self::Bearer(claims) => Some(CurrentUser::Bearer(claims.clone())),
            Self::Session(session) => Some(CurrentUser::Session(session.clone())),
            Self::Anonymous | Self::Invalid(_) => None,
        }
    }
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

/// Authenticates a request from its headers: the bearer token if there is
/// an `Authorization` header (a token never falls back to the cookie), else
/// the session cookie named `session_cookie`.
pub async fn authenticate(
    tokens: &TokenService,
    sessions: &Sessions,
    headers: &HeaderMap,
    session_cookie: &str,
) -> Authentication {
    if headers.get(http::header::AUTHORIZATION).is_none() {
        let Some(id) = crate::web::cookies::get(headers, session_cookie) else {
            return Authentication::Anonymous;
        };
        return match sessions.resume(SessionId::from_cookie(id)).await {
            Ok(Some(session)) => Authentication::Session(Arc::new(session)),
            Ok(None) => Authentication::Anonymous,
            Err(err) => {
                tracing::warn!(error = %err, "session lookup failed; treating the request as anonymous");
                Authentication::Anonymous
            }
        };
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
