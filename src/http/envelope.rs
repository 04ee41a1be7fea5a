//! The envelope every request passes through first: the cross-cutting steps
//! that must see every request and every response, in this order.
//!
//! They run in one middleware function rather than one layer each, because
//! each `from_fn` layer boxes the rest of the stack per request; in this
//! order they cost one box.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::StatusCode;

use crate::auth::{self, Authentication, tokens::TokenService};

use super::{
    access_log::AccessLog,
    client::TrustedProxies,
    cors::Cors,
    error, request_id,
    security_headers::{self, Hsts},
};

/// What the envelope needs, built once from the settings.
#[derive(Clone)]
pub struct Envelope {
    pub proxies: Arc<TrustedProxies>,
    pub hsts: Hsts,
    pub cors: Cors,
    pub tokens: Arc<TokenService>,
}

/// The answer to a preflight from an origin not in `cors.allow_origins`.
const CORS_REFUSED: &str = "Origin not allowed";

pub async fn layer(State(envelope): State<Envelope>, mut request: Request, next: Next) -> Response {
    // 1. The request id: every later step, log line and error body names it.
    let id = request_id::assign(&mut request);
    // 2. The client IP and transport, resolved once (trusted proxies only).
    let client = envelope.proxies.identify(&mut request);
    // 3. The access log starts its clock.
    let log = AccessLog::start(&request);
    // 4. OPTIONS is for CORS preflights from allowed origins only; they
    //    carry no credentials, and the CORS layer answers them.
    let screened = envelope.cors.screen(&request);
    let (response, user) = if let Some(status) = screened {
        let response = match status {
            StatusCode::FORBIDDEN => error::detail_response(status, CORS_REFUSED),
            _ => status.into_response(),
        };
        (response, None)
    } else if request.method() == http::Method::OPTIONS {
        (next.run(request).await, None)
    } else {
        // 5. The credentials, verified once; extractors read the outcome.
        let authentication = auth::authenticate(&envelope.tokens, request.headers()).await;
        let user = match &authentication {
            Authentication::Bearer(claims) => Some(claims.clone()),
            _ => None,
        };
        request.extensions_mut().insert(authentication);
        (next.run(request).await, user)
    };

    // 6. Bare error statuses from below get the spec's body.
    let mut response = error::fill_body(response, &id);
    // 7. Security headers and the request id, on every response.
    security_headers::apply(&mut response, client.https, &envelope.hsts);
    request_id::stamp(&mut response, &id);
    // 8. One log line and one metrics sample, for the final response.
    log.finish(&response, &id, &client, user.as_deref().map(|c| c.sub.as_str()));
    response
}
