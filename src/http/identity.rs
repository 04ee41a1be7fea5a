//! The extractors that carry who the caller is into handlers:
//! `CurrentUser` (any valid credentials) and `RequireRole<Admin>` (a role),
//! the Rust form of FastAPI's `Depends(get_current_user)`, reading what the
//! envelope decided once per request ([`super::credentials`]).

use std::marker::PhantomData;

use axum::{
    extract::{FromRef, FromRequestParts, OptionalFromRequestParts},
    http::request::Parts,
    response::{IntoResponse, Response},
};

use super::{
    context::RequestContext,
    credentials::{Authentication, CurrentUser},
    error::ApiError,
    provenance,
};
use crate::{
    audit::{Action, Auditor, Outcome},
    names::Role,
};

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
                &provenance::of(&parts.extensions),
            );
        }
        if user.has_role(R::NAME) {
            Ok(Self(user, PhantomData))
        } else {
            Err(AuthRejection::Forbidden)
        }
    }
}
