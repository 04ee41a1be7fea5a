//! Extractors that say what a handler needs: `CurrentUser` (any valid
//! token), `RequireRole<Admin>` (a role). The Rust form of FastAPI's
//! `Depends(get_current_user)`.

use std::{marker::PhantomData, sync::Arc};

use axum::{
    extract::{FromRef, FromRequestParts, MatchedPath, OptionalFromRequestParts},
    http::request::Parts,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};

use super::{Authentication, session::SessionUser, tokens::AccessClaims};
use crate::audit::{Action, Auditor, Origin, Outcome};
use crate::http::error::detail_response;

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

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let (status, detail) = match self {
            Self::Missing => (StatusCode::UNAUTHORIZED, "Not authenticated"),
            Self::Invalid => (StatusCode::UNAUTHORIZED, "Invalid authentication credentials"),
            Self::Forbidden => (StatusCode::FORBIDDEN, "Not enough permissions"),
        };
        let mut response = detail_response(status, detail);
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750 section 3.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Authentication>() {
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
        Ok(parts
            .extensions
            .get::<Authentication>()
            .and_then(Authentication::user))
    }
}

/// A role a route requires, named by a marker type.
pub trait RoleName: Send + Sync + 'static {
    const NAME: &'static str;
}

/// The `admin` role.
pub struct Admin;

impl RoleName for Admin {
    const NAME: &'static str = super::names::Role::ADMIN;
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
            let route = parts.extensions.get::<MatchedPath>().map(MatchedPath::as_str);
            Auditor::from_ref(state).record(
                Action::AccessDenied,
                Outcome::Denied,
                Some(user.username()),
                route,
                &Origin::of(parts),
            );
        }
        if user.has_role(R::NAME) {
            Ok(Self(user, PhantomData))
        } else {
            Err(AuthRejection::Forbidden)
        }
    }
}
