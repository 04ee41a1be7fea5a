//! Who the caller is: the credentials of a request (a bearer token, of
//! `Authorization` or of a WebSocket upgrade's token subprotocol, else the
//! session cookie), decided once per request by the envelope and handed on
//! in the request's context; the caller they name.

use std::sync::Arc;

use http::HeaderMap;

use super::cookies;
use crate::auth::{
    Principal,
    amr::Amr,
    claims::{AccessClaims, TokenError},
    session::{SessionId, SessionUser, Sessions},
    tokens::TokenService,
};

/// The session the request's cookie names, live or not, read once by the
/// envelope and handed on in its [`RequestContext`].
#[derive(Clone, Debug)]
pub struct SessionCookie(pub SessionId);

impl SessionCookie {
    /// The session cookie of a request over `https` or not, if it has one.
    pub fn of(headers: &HeaderMap, https: bool) -> Option<Self> {
        cookies::get(headers, cookies::names(https).session).map(|id| Self(SessionId::from_cookie(id)))
    }
}

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

/// The subprotocol that carries a bearer token on a WebSocket upgrade:
/// browsers cannot set `Authorization` there (SPEC section 3, "WebSocket";
/// the Kubernetes API server does the same).
pub const TOKEN_PROTOCOL_PREFIX: &str = "bearer.";

/// What a WebSocket upgrade offers in `Sec-WebSocket-Protocol`.
#[derive(Debug, PartialEq, Eq)]
pub enum ProtocolToken<'a> {
    /// No token protocol (or not an upgrade).
    None,
    One(&'a str),
    /// Two token protocols, or a malformed header: refused.
    Ambiguous,
}

/// The bearer token a WebSocket upgrade offers as a subprotocol.
pub fn protocol_token(headers: &HeaderMap) -> ProtocolToken<'_> {
    let upgrade = headers
        .get(http::header::UPGRADE)
        .is_some_and(|u| u.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if !upgrade {
        return ProtocolToken::None;
    }
    let mut found = ProtocolToken::None;
    for value in headers.get_all(http::header::SEC_WEBSOCKET_PROTOCOL) {
        let Ok(value) = value.to_str() else {
            return ProtocolToken::Ambiguous;
        };
        for protocol in value.split(',').map(str::trim) {
            let Some(token) = protocol.strip_prefix(TOKEN_PROTOCOL_PREFIX) else {
                continue;
            };
            if token.is_empty() || found != ProtocolToken::None {
                return ProtocolToken::Ambiguous;
            }
            found = ProtocolToken::One(token);
        }
    }
    found
}

/// Authenticates a request from its headers: the bearer token of
/// `Authorization`, or of a WebSocket upgrade's token subprotocol (a token
/// never falls back to the cookie; both at once are refused), else the
/// session cookie named `session_cookie`.
pub async fn authenticate(
    tokens: &TokenService,
    sessions: &Sessions,
    headers: &HeaderMap,
    session_cookie: Option<&SessionCookie>,
) -> Authentication {
    let header = headers.contains_key(http::header::AUTHORIZATION);
    let token = match (header, protocol_token(headers)) {
        (false, ProtocolToken::None) => {
            let Some(SessionCookie(id)) = session_cookie else {
                return Authentication::Anonymous;
            };
            // Boxed: the session's database read would otherwise enlarge
            // the future of every request, bearer or anonymous.
            return match Box::pin(sessions.resume(id.clone())).await {
                Ok(Some(session)) => Authentication::Session(Arc::new(session)),
                Ok(None) => Authentication::Anonymous,
                Err(err) => {
                    tracing::warn!(error = %err, "session lookup failed; treating the request as anonymous");
                    Authentication::Anonymous
                }
            };
        }
        (true, ProtocolToken::None) => bearer_token(headers),
        (false, ProtocolToken::One(token)) => Some(token),
        (true, _) | (false, ProtocolToken::Ambiguous) => None,
    };
    let Some(token) = token else {
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

/// The authenticated caller: by bearer token, or by session cookie.
#[derive(Clone, Debug)]
pub enum CurrentUser {
    Bearer(Arc<AccessClaims>),
    Session(Arc<SessionUser>),
}

impl CurrentUser {
    pub fn username(&self) -> &str {
        match self {
            Self::Bearer(claims) => &claims.sub,
            Self::Session(session) => &session.username,
        }
    }

    pub fn has_role(&self, role: &str) -> bool {
        match self {
            Self::Bearer(claims) => claims.has_role(role),
            Self::Session(session) => session.roles.iter().any(|r| r == role),
        }
    }

    pub fn roles(&self) -> &[String] {
        match self {
            Self::Bearer(claims) => &claims.roles,
            Self::Session(session) => &session.roles,
        }
    }

    /// How the caller signed in (RFC 8176).
    pub fn amr(&self) -> Amr {
        match self {
            Self::Bearer(claims) => claims.amr,
            Self::Session(session) => session.amr,
        }
    }
}

impl Principal for CurrentUser {
    fn username(&self) -> &str {
        CurrentUser::username(self)
    }

    fn has_role(&self, role: &str) -> bool {
        CurrentUser::has_role(self, role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upgrade(protocols: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::UPGRADE, "websocket".parse().unwrap());
        for p in protocols {
            headers.append(http::header::SEC_WEBSOCKET_PROTOCOL, p.parse().unwrap());
        }
        headers
    }

    #[test]
    fn a_token_protocol_is_read_from_upgrades_only() {
        assert_eq!(
            protocol_token(&upgrade(&["rampart.v1, bearer.abc.def"])),
            ProtocolToken::One("abc.def")
        );
        assert_eq!(
            protocol_token(&upgrade(&["rampart.v1", "bearer.t"])),
            ProtocolToken::One("t")
        );
        assert_eq!(protocol_token(&upgrade(&["rampart.v1"])), ProtocolToken::None);
        assert_eq!(protocol_token(&upgrade(&[])), ProtocolToken::None);
        let mut not_upgrade = upgrade(&["bearer.t"]);
        not_upgrade.remove(http::header::UPGRADE);
        assert_eq!(protocol_token(&not_upgrade), ProtocolToken::None);
    }

    #[test]
    fn two_token_protocols_or_an_empty_one_are_refused() {
        assert_eq!(
            protocol_token(&upgrade(&["bearer.a, bearer.b"])),
            ProtocolToken::Ambiguous
        );
        assert_eq!(
            protocol_token(&upgrade(&["bearer.a", "bearer.a"])),
            ProtocolToken::Ambiguous
        );
        assert_eq!(protocol_token(&upgrade(&["bearer."])), ProtocolToken::Ambiguous);
    }
}
