//! Who the caller is: the credentials of a request (a bearer token, else
//! the session cookie), decided once per request by the envelope, and the
//! extractors that carry the outcome into handlers: `CurrentUser` (any valid
//! credentials) and `RequireRole<Admin>` (a role), the Rust form of
//! FastAPI's `Depends(get_current_user)`.

use std::{marker::PhantomData, sync::Arc};

use axum::{
    extract::{FromRef, FromRequestParts, OptionalFromRequestParts},
    http::request::Parts,
    response::{IntoResponse, Response},
};
use http::HeaderMap;

use super::{context::RequestContext, cookies, error::ApiError, origin};
use crate::{
    audit::{Action, Auditor, Outcome},
    auth::{
        Principal,
        claims::{AccessClaims, TokenError},
        session::{SessionId, SessionUser, Sessions},
        tokens::TokenService,
    },
    names::Role,
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
}

impl Principal for CurrentUser {
    fn username(&self) -> &str {
        CurrentUser::username(self)
    }

    fn has_role(&self, role: &str) -> bool {
        CurrentUser::has_role(self, role)
    }
}

/// Why a request is refused by an auth extractor.
#[derive(Debug)]
pub enum AuthRejection {
    /// No credentials: 401 `Not authenticated`.
    Missing,
    /// Credentials that do not verify: 401 `Invalid authentication credentials`.
    Invalid,
    /// Valid credentials without the role: 403 `Not enough permissions`.
    Forbidden,
}

impl From<AuthRejection> for ApiError {
    fn from(rejection: AuthRejection) -> Self {
        match rejection {
            AuthRejection::Missing => Self::Unauthorized("Not authenticated"),
            AuthRejection::Invalid => Self::Unauthorized("Invalid authentication credentials"),
            AuthRejection::Forbidden => Self::Forbidden("Not enough permissions"),
        }
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match RequestContext::of(&parts.extensions).map(|context| &context.authentication) {
            Some(Authentication::Invalid(_)) => Err(AuthRejection::Invalid),
            Some(authentication) => authentication.user().ok_or(AuthRejection::Missing),
            None => Err(AuthRejection::Missing),
        }
    }
}

/// For handlers that serve the signed-in and the anonymous alike (pages).
impl<S: Send + Sync> OptionalFromRequestParts<S> for CurrentUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(RequestContext::of(&parts.extensions).and_then(|context| context.authentication.user()))
    }
}

/// A role a route requires, named by a marker type.
pub trait RoleName: Send + Sync + 'static {
    const NAME: &'static str;
}

/// The `admin` role.
pub struct Admin;

impl RoleName for Admin {
    const NAME: &'static str = Role::ADMIN;
}

/// The authenticated caller, who holds role `R`.
pub struct RequireRole<R: RoleName>(pub CurrentUser, pub PhantomData<R>);

impl<R: RoleName, S: Send + Sync> FromRequestParts<S> for RequireRole<R>
where
    Auditor: FromRef<S>,
{
    type Rejection = AuthRejection;

    /// A caller without the role is refused and the refusal audited
    /// (OWASP API5:2023, broken function level authorization).
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = <CurrentUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        if !user.has_role(R::NAME) {
            let route = RequestContext::of(&parts.extensions).and_then(|context| context.route.as_deref());
            Auditor::from_ref(state).record(
                Action::AccessDenied,
                Outcome::Denied,
                Some(user.username()),
                route,
                &origin::of(&parts.extensions),
            );
        }
        if user.has_role(R::NAME) {
            Ok(Self(user, PhantomData))
        } else {
            Err(AuthRejection::Forbidden)
        }
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
