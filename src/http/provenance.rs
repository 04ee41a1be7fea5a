//! Where a request came from (its provenance), for its audit events: the
//! client IP and the request id that the envelope found. (The `Origin`
//! header is CORS's and CSRF's; `cors.allow_origins` is
//! `config::AllowedOrigin`.)

use axum::{extract::FromRequestParts, http::request::Parts};
use http::Extensions;

use super::{client::ClientInfo, context::RequestContext, request_id::RequestId};
use crate::audit::Provenance;

/// The provenance of the request with these extensions.
pub fn of(extensions: &Extensions) -> Provenance {
    RequestContext::of(extensions)
        .map_or_else(Provenance::default, |context| from(&context.id, &context.client))
}

/// The provenance of a request with this id and client.
pub fn from(id: &RequestId, client: &ClientInfo) -> Provenance {
    Provenance {
        client_ip: Some(client.ip),
        request_id: Some(id.as_str().to_owned()),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Provenance {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(of(&parts.extensions))
    }
}
