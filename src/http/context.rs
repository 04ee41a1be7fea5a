//! What the envelope learned of a request, handed to the handlers below it
//! as one request extension.
//!
//! One extension rather than one per fact: each is a boxed entry of a hash
//! map that grows past three entries, and inserting, growing and dropping
//! six of them per request showed in every request's instruction count. The listener's `Connection` moves in here too, and the
//! route's template (axum's own `MatchedPath` is off: it costs another
//! entry), so a handler sees two: the router's path parameters, and this.

use std::sync::Arc;

use axum::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    http::request::Parts,
    response::{IntoResponse, Response},
};
use http::Extensions;

use super::{
    client::ClientInfo,
    credentials::{Authentication, SessionCookie},
    error::ApiError,
    request_id::RequestId,
};
use crate::server::Connection;

/// The request's id, its client, its credentials' outcome, its session
/// cookie and its connection.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub id: RequestId,
    /// The route's template, as the access log names it.
    pub route: Option<Arc<str>>,
    pub client: ClientInfo,
    pub authentication: Authentication,
    /// The session the cookie names, live or not: the sign-in form binds
    /// its CSRF token to it, and ends it at a new login.
    pub session: Option<SessionCookie>,
    /// The connection the request arrived on (none for a request built
    /// in-process): a WebSocket stops its idle clock once upgraded.
    pub connection: Option<Connection>,
}

impl RequestContext {
    /// The context of the request with these extensions; `None` for a
    /// request the envelope did not see.
    pub fn of(extensions: &Extensions) -> Option<&Self> {
        extensions.get()
    }
}

/// The envelope runs before every handler: a missing context is a bug,
/// answered as one.
fn missing() -> Response {
    ApiError::internal(anyhow::anyhow!("no request context: the envelope did not run")).into_response()
}

impl<S: Send + Sync> FromRequestParts<S> for ClientInfo {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        RequestContext::of(&parts.extensions)
            .map(|context| context.client)
            .ok_or_else(missing)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        RequestContext::of(&parts.extensions).cloned().ok_or_else(missing)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for SessionCookie {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(RequestContext::of(&parts.extensions).and_then(|context| context.session.clone()))
    }
}
