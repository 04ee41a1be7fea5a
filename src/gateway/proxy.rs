//! Forwarding a request the routes admit, and its answer back (SPEC
//! section 6): streamed both ways, with the caller's identity set by
//! rampart alone; 502 and 504 in the spec's words, never the upstream's
//! address or error.

use std::{net::IpAddr, sync::Arc};

use axum::{
    body::Body,
    extract::Request,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header, uri::PathAndQuery};
use tokio::sync::OwnedSemaphorePermit;

use super::{
    Gateway,
    body::{BodyTimeout, Due, Held, Sender, Turn},
    headers::{self, X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO, X_RAMPART_ASSERTION},
    path::check,
    pool::Lease,
    table::{Route, Verdict},
    target::Target,
    upstream::root_cause,
};
use crate::{
    audit::{Action, Outcome},
    auth::assertion::Caller,
    http::{
        client::authority,
        context::RequestContext,
        credentials::{Authentication, CurrentUser},
        detail::detail_response,
        identity::AuthRejection,
        provenance,
        resolve::{Relayed, ResolvedRoute},
    },
    ratelimit,
};

/// The gateway's handler: the route the envelope resolved, or 400 for a
/// path that is not normal and 404 for one no route admits; then the
/// route's access rule; then the upstream.
pub async fn forward(gateway: Arc<Gateway>, request: Request) -> Response {
    if headers::ambiguous_host(&request) {
        return detail_response(StatusCode::BAD_REQUEST, "Ambiguous host");
    }
    let Some(route) = request
        .extensions()
        .get::<ResolvedRoute>()
        .and_then(|resolved| resolved.route.clone().downcast::<Route>().ok())
    else {
        return match check(request.uri().path()) {
            Err(_) => detail_response(StatusCode::BAD_REQUEST, "Path not in normal form"),
            Ok(()) => StatusCode::NOT_FOUND.into_response(),
        };
    };
    // A route for forward-auth alone: nothing here to forward to.
    let Some(target) = route.target.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // Every bearer token is rampart's: one that does not verify is 401,
    // even on a public route.
    let user = match RequestContext::of(request.extensions()).map(|context| &context.authentication) {
        Some(Authentication::Invalid(_)) => return AuthRejection::Invalid.into_response(),
        Some(authentication) => authentication.user(),
        None => None,
    };
    if let Some(refusal) = gateway.refusal(&route, user.as_ref(), || provenance::of(request.extensions())) {
        return refusal;
    }
    if is_upgrade(request.headers()) {
        // Boxed: a tunnel's state is half as large again as a forwarded
        // request's, and every request's future would carry (and copy)
        // room for it.
        return Box::pin(gateway.tunnel(request, &route, &target, user.as_ref())).await;
    }
    gateway.send(request, &target, user.as_ref()).await
}

impl Gateway {
    /// The answer when `route` refuses `user`: 401, 403 (audited, from
    /// `provenance`, made only then) or 403 for a missing second factor.
    pub(super) fn refusal(
        &self,
        route: &Route,
        user: Option<&CurrentUser>,
        provenance: impl FnOnce() -> crate::audit::Provenance,
    ) -> Option<Response> {
        match route.admit(user) {
            Verdict::Pass => None,
            Verdict::Unauthenticated => Some(AuthRejection::Missing.into_response()),
            verdict => {
                self.gate.audit.record(
                    Action::AccessDenied,
                    Outcome::Denied,
                    user.map(CurrentUser::username),
                    Some(&route.label),
                    &provenance(),
                );
                Some(if verdict == Verdict::SecondFactorRequired {
                    detail_response(StatusCode::FORBIDDEN, SECOND_FACTOR_REQUIRED)
                } else {
                    AuthRejection::Forbidden.into_response()
                })
            }
        }
    }
}

/// A route's `mfa` refused a caller whose credential shows none (SPEC
/// section 6).
const SECOND_FACTOR_REQUIRED: &str = "Second factor required";

/// Whether a request asks for a WebSocket (RFC 6455 section 4.1).
fn is_upgrade(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .is_some_and(|u| u.as_bytes().eq_ignore_ascii_case(b"websocket"))
}

impl Gateway {
    /// The request for the upstream (SPEC section 6): the client's method,
    /// path, query and `body`; its headers less hop-by-hop ones, identity
    /// claims and rampart's credentials; then rampart's own.
    pub(super) fn upstream_request<B>(
        target: &Target,
        parts: &http::request::Parts,
        user: Option<&CurrentUser>,
        body: B,
    ) -> Result<http::Request<B>, StatusCode> {
        let path_and_query = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let mut headers = headers::inbound(&parts.headers);
        let context = RequestContext::of(&parts.extensions);
        if let Some(client) = context.map(|context| context.client) {
            headers.insert(X_FORWARDED_FOR, headers::address(client.ip));
            headers.insert(
                X_FORWARDED_PROTO,
                HeaderValue::from_static(if client.https { "https" } else { "http" }),
            );
        }
        if let Some(host) = authority(&parts.uri, &parts.headers) {
            set(&mut headers, X_FORWARDED_HOST, host);
        }
        if let Some(id) = context.map(|context| &context.id) {
            set(&mut headers, headers::X_REQUEST_ID, id.as_str());
        }
        if let Some(user) = user {
            set(&mut headers, headers::X_RAMPART_USER, user.username());
            set(&mut headers, headers::X_RAMPART_ROLES, &user.roles().join(","));
        }
        let caller = user.map(|user| Caller {
            username: user.username(),
            roles: user.roles(),
            amr: user.amr(),
        });
        match target
            .assertions
            .sign(caller, parts.method.as_str(), path_and_query.as_str())
        {
            Ok(assertion) => set(&mut headers, X_RAMPART_ASSERTION, &assertion),
            Err(err) => {
                tracing::error!(error = %err, "signing a gateway assertion failed");
                return Err(StatusCode::INTERNAL_SERVER_ERROR);
            }
        }
        let mut request = http::Request::new(body);
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = path_and_query.into();
        *request.headers_mut() = headers;
        Ok(request)
    }

    /// Sends a request upstream within `gateway.timeout`: its answer's
    /// head, with the connection and the turn it holds.
    pub(super) async fn exchange(
        target: &Target,
        request: http::Request<Body>,
    ) -> Result<Exchanged, Response> {
        let started = tokio::time::Instant::now();
        let outcome = Self::exchange_within(target, request, started + target.timeout).await;
        let status = match &outcome {
            Ok((response, ..)) => response.status(),
            Err(refusal) => refusal.status(),
        };
        target.metered(status, started.elapsed());
        outcome
    }

    async fn exchange_within(
        target: &Target,
        request: http::Request<Body>,
        deadline: tokio::time::Instant,
    ) -> Result<Exchanged, Response> {
        let Ok(Ok(permit)) =
            tokio::time::timeout_at(deadline, target.upstream.permits.clone().acquire_owned()).await
        else {
            return Err(gateway_timeout());
        };
        match tokio::time::timeout_at(deadline, target.upstream.send(request)).await {
            Err(_) => Err(gateway_timeout()),
            Ok(Err(err)) => {
                if caused_by::<http_body_util::LengthLimitError>(&*err) {
                    return Err(StatusCode::PAYLOAD_TOO_LARGE.into_response());
                }
                if caused_by::<BodyTimeout>(&*err) {
                    // hyper has closed the upstream's connection mid-body.
                    return Err(detail_response(
                        StatusCode::REQUEST_TIMEOUT,
                        "Request body timeout",
                    ));
                }
                tracing::warn!(error = %root_cause(&*err), "the upstream did not answer");
                Err(bad_gateway())
            }
            Ok(Ok((response, lease))) => Ok((response, lease, permit)),
        }
    }

    /// Sends `request` upstream and relays the answer, streamed. The
    /// client's body must have arrived within `limits.request_timeout`, and
    /// a client has at most `gateway.max_in_flight_per_client` requests in
    /// flight: slow bodies cannot hold every turn and upstream connection
    /// (SPEC section 11; OWASP API4:2023, CWE-400).
    async fn send(&self, request: Request, target: &Target, user: Option<&CurrentUser>) -> Response {
        let (parts, body) = request.into_parts();
        let sender = match user {
            Some(user) => Sender::User(user.username().to_lowercase()),
            None => Sender::Network(
                RequestContext::of(&parts.extensions).map_or(IpAddr::from([0, 0, 0, 0]), |context| {
                    ratelimit::network(context.client.ip)
                }),
            ),
        };
        let Some(in_flight) = self.in_flight.take(sender) else {
            return detail_response(StatusCode::TOO_MANY_REQUESTS, "Too many requests in flight");
        };
        // A request without a body (most GETs) has nothing to wait for.
        let body = if http_body::Body::is_end_stream(&body) {
            body
        } else {
            Body::new(Due::new(body, tokio::time::Instant::now() + self.body_timeout))
        };
        let upstream_request = match Self::upstream_request(target, &parts, user, body) {
            Ok(request) => request,
            Err(status) => return status.into_response(),
        };
        match Self::exchange(target, upstream_request).await {
            Ok((response, lease, permit)) => relayed(response, lease, (permit, Some(in_flight))),
            Err(refusal) => refusal,
        }
    }
}

/// An upstream's answer: its head, the connection its body arrives on, and
/// the request's turn.
pub(super) type Exchanged = (http::Response<hyper::body::Incoming>, Lease, OwnedSemaphorePermit);

/// The upstream's answer, relayed: streamed, holding its connection and
/// turn until the last byte, with only what may cross (SPEC section 6).
pub(super) fn relayed(response: http::Response<hyper::body::Incoming>, lease: Lease, turn: Turn) -> Response {
    let (mut parts, body) = response.into_parts();
    headers::outbound(&mut parts.headers);
    parts.extensions = http::Extensions::new();
    parts.extensions.insert(Relayed);
    Response::from_parts(parts, Body::new(Held::new(body, lease, turn)))
}

pub(super) fn bad_gateway() -> Response {
    detail_response(StatusCode::BAD_GATEWAY, "Bad Gateway")
}

fn gateway_timeout() -> Response {
    detail_response(StatusCode::GATEWAY_TIMEOUT, "Gateway Timeout")
}

/// Whether the client's body failed on its way up with an `E`: it broke
/// `limits.max_body_bytes`, or did not arrive in time.
fn caused_by<E: std::error::Error + 'static>(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if err.is::<E>() {
            return true;
        }
        cause = err.source();
    }
    false
}

/// Sets a header rampart computed; a value no header can hold (a user name
/// is always one) is left out rather than sent broken.
fn set(headers: &mut http::HeaderMap, name: http::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}
