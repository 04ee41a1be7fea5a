//! Where a request came from, for its audit events: the client IP and the
//! request id that the envelope found.

use axum::{extract::FromRequestParts, http::request::Parts};
use http::Extensions;

use super::{client::ClientInfo, context::RequestContext, request_id::RequestId};
use crate::audit::Origin;

/// The origin of the request with these extensions.
pub fn of(extensions: &Extensions) -> Origin {
    RequestContext::of(extensions).map_or_else(Origin::default, |context| from(&context.id, &context.client))
}

/// The origin of a request with this id and client.
pub fn from(id: &RequestId, client: &ClientInfo) -> Origin {
    Origin {
        client_ip: Some(client.ip),
        request_id: Some(id.as_str().to_owned()),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(of(&parts.extensions))
    }
}
