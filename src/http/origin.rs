//! Where a request came from, for its audit events: the client IP and the
//! request id that the envelope put in the request's extensions.

use axum::{extract::FromRequestParts, http::request::Parts};
use http::Extensions;

use super::{client::ClientInfo, request_id::RequestId};
use crate::audit::Origin;

/// The origin of the request with these extensions.
pub fn of(extensions: &Extensions) -> Origin {
    Origin {
        client_ip: extensions.get::<ClientInfo>().map(|c| c.ip),
        request_id: extensions.get::<RequestId>().map(|id| id.as_str().to_owned()),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(of(&parts.extensions))
    }
}
