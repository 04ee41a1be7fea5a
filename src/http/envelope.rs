//! The envelope every request passes through first: the cross-cutting steps
//! that must see every request and every response, in this order.
//!
//! They run in one function rather than one layer each: every layer is
//! another service to clone and another future to box per request. The
//! envelope is a hand-written service around the whole router (not around
//! each route: [`super::route`] says why), which the listeners ask directly
//! ([`server::App`]); not axum's `from_fn`, which boxes the rest of the
//! stack once more per request (`Next`) and clones it to do so.

use std::{
    convert::Infallible,
    panic::AssertUnwindSafe,
    sync::Arc,
    task::{Context, Poll, Waker},
};

use axum::{
    body::Body,
    extract::Request,
    response::{IntoResponse, Response},
};
use futures_util::{
    FutureExt,
    future::{BoxFuture, Either, Ready, ready},
};
use http::{HeaderValue, StatusCode, header};
use tower::{Layer, Service};

use crate::{
    audit::Auditor,
    auth::{csrf::Binding, session::Sessions, tokens::TokenService},
    ratelimit::Decision,
    server::{self, Connection},
};

use super::{
    access_log::AccessLog,
    client::{ClientInfo, TrustedProxies, authority},
    context::RequestContext,
    cors::{Cors, Screened},
    credentials::{self, Authentication, CurrentUser, SessionCookie},
    csrf::{self, CsrfGuard},
    detail, error, limited, provenance,
    rate_limit::{Admission, RateLimitStep},
    request_id::{self, RequestId},
    route::{Route, RouteTable},
    second_factor::FactorPolicy,
    security_headers::SecurityHeaders,
};

/// What the envelope needs, built once from the settings.
pub struct Envelope {
    pub proxies: Arc<TrustedProxies>,
    pub security_headers: SecurityHeaders,
    pub cors: Arc<Cors>,
    pub tokens: Arc<TokenService>,
    pub sessions: Sessions,
    pub csrf: Arc<CsrfGuard>,
    pub rate_limit: RateLimitStep,
    pub audit: Auditor,
    /// `limits.max_body_bytes`.
    pub max_body_bytes: usize,
    /// `auth.mfa`.
    pub factor_policy: FactorPolicy,
}

/// The answer to a preflight from an origin not in `cors.allow_origins`.
const CORS_REFUSED: &str = "Origin not allowed";

/// The envelope around a router, which [`RouteTable`] matches requests
/// to routes for.
#[derive(Clone)]
pub struct EnvelopeLayer {
    pub envelope: Arc<Envelope>,
    pub routes: Arc<RouteTable>,
}

impl<S> Layer<S> for EnvelopeLayer {
    type Service = EnvelopeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EnvelopeService {
            shared: Arc::new(Shared {
                envelope: self.envelope.clone(),
                routes: self.routes.clone(),
                inner,
            }),
            connection: None,
        }
    }
}

/// A router inside the envelope, served to one connection
/// ([`server::App`]): a request costs a clone of `shared`, of the
/// connection and of the router, each a reference count.
#[derive(Clone)]
pub struct EnvelopeService<S> {
    shared: Arc<Shared<S>>,
    /// The connection the requests come over, once the listener says
    /// ([`server::App::connected`]).
    connection: Option<Connection>,
}

/// What the requests of every connection share.
struct Shared<S> {
    envelope: Arc<Envelope>,
    routes: Arc<RouteTable>,
    inner: S,
}

impl<S> server::App for EnvelopeService<S>
where
    S: Service<Request, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Response: IntoResponse,
    S::Future: Send,
{
    type Future =
        Either<Ready<Result<Response, Infallible>>, BoxFuture<'static, Result<Response, Infallible>>>;

    fn connected(&self, connection: Connection) -> Self {
        Self {
            shared: self.shared.clone(),
            connection: Some(connection),
        }
    }

    fn answer(&self, request: http::Request<hyper::body::Incoming>) -> Self::Future {
        let shared = self.shared.clone();
        let connection = self.connection.clone();
        let request = request.map(Body::new);
        let mut answer: BoxFuture<'static, Result<Response, Infallible>> = Box::pin(async move {
            let inner = shared.inner.clone();
            Ok(run(&shared.envelope, &shared.routes, request, connection, inner).await)
        });
        // Polled once now, not first when hyper polls it: right after handing
        // a request over, and before polling its answer, hyper reads on from
        // the connection (`require_empty_read`), and a request not yet
        // consumed still holds slices of hyper's read buffer, so hyper must
        // allocate a new one: an 8 KiB buffer allocated and freed per
        // request. Most requests
        // finish in this first poll. One that does not is polled again by
        // hyper with its task's waker straight after, so the waker of this
        // poll, which does nothing, loses no wake-up.
        match answer.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(response) => Either::Left(ready(response)),
            Poll::Pending => Either::Right(answer),
        }
    }
}

#[expect(
    clippy::manual_async_fn,
    reason = "an `async fn` copies its arguments into its state twice"
)]
fn run<S>(
    envelope: &Envelope,
    routes: &RouteTable,
    mut request: Request,
    connection: Option<Connection>,
    inner: S,
) -> impl Future<Output = Response>
where
    S: Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
{
    // An `async` block rather than an `async fn`: an `async fn` keeps a
    // second copy of each argument in its state (the request: 240 bytes),
    // and copies it there first.
    async move {
        // 1. The request id: every later step, log line and error body names it.
        let id = request_id::assign(&request);
        // 2. The client IP and transport, resolved once (trusted proxies only).
        //    The connection moves into the request's context.
        let client = envelope.proxies.identify(connection.as_ref(), request.headers());
        // 3. The route (the router's, else the resolver's, whose handler is
        //    told which), and the access log starts its clock.
        let (route, resolved) = routes.find(request.method(), request.uri().path(), || {
            authority(request.uri(), request.headers())
        });
        if let Some(resolved) = resolved {
            request.extensions_mut().insert(resolved);
        }
        let log = AccessLog::start(request.method(), route.template.clone());
        let origin = request.headers().get(header::ORIGIN).cloned();

        let Steps {
            mut response,
            user,
            decision,
        } = match envelope.cors.screen(&request) {
            // 4. OPTIONS is for CORS preflights from allowed origins only; they
            //    carry no credentials and are answered here.
            Some(Screened::Preflight) => {
                let origin = origin.as_ref().expect("a preflight has an Origin");
                let mut response = envelope.cors.preflight(origin);
                envelope.security_headers.apply(&mut response, client.https);
                return finish(response, &id, &client, log, None);
            }
            Some(Screened::Foreign) => {
                Steps::answer(detail::detail_response(StatusCode::FORBIDDEN, CORS_REFUSED))
            }
            Some(Screened::NotPreflight) => Steps::answer(StatusCode::METHOD_NOT_ALLOWED.into_response()),
            // 5 to 9 run under one deadline and one panic guard: every step
            // that reads the body or the database is bounded by
            // `limits.request_timeout` (OWASP API4), and a panic anywhere
            // becomes a 500 with the spec's body.
            None => {
                // (The steps' future is handed on, not held in a variable: a
                // future kept in a variable across an `.await` keeps its own
                // room in this future's state, beside the room of the future it
                // moved into, and every request copies that state.)
                // The deadline counts from the request's arrival, as read by
                // the access log: one reading of the clock fewer.
                let deadline = tokio::time::Instant::from_std(log.started()) + route.deadline;
                let outcome = tokio::time::timeout_at(
                    deadline,
                    AssertUnwindSafe(authenticated(
                        envelope, &route, request, connection, &id, &client, inner,
                    ))
                    .catch_unwind(),
                )
                .await;
                match outcome {
                    Ok(Ok(steps)) => steps,
                    Ok(Err(panic)) => Steps::answer(error::panic_response(panic)),
                    Err(_) => Steps::answer(StatusCode::SERVICE_UNAVAILABLE.into_response()),
                }
            }
        };
        // 10. Security headers, each where the response has none of its own:
        //    laid first, while the response holds only its own headers (none
        //    that the steps below add is a security header).
        envelope.security_headers.apply(&mut response, client.https);
        // 11. The rate limit's budget.
        if let Some(decision) = &decision {
            limited::stamp_allowed(response.headers_mut(), decision);
        }
        // 12. CORS: `Vary: Origin`, and for an allowed origin the right to read
        //     this response (429s and errors included).
        envelope.cors.decorate(origin.as_ref(), response.headers_mut());
        // 13. Answers about a user, and the account routes, are never stored
        //     by a cache (ASVS 5.0 14.3.2; RFC 6749 section 5.1 for /token),
        //     unless the answer already keeps itself out of shared caches.
        if (route.properties.private || user.is_some()) && !keeps_private(response.headers()) {
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        finish(response, &id, &client, log, user)
    }
}

/// What steps 5 to 9 come to.
struct Steps {
    response: Response,
    /// Who the credentials named, if anyone.
    user: Option<CurrentUser>,
    /// The rate limit's budget, for a request it allowed.
    decision: Option<Decision>,
}

impl Steps {
    /// An answer given before the steps knew anything.
    fn answer(response: Response) -> Self {
        Self {
            response,
            user: None,
            decision: None,
        }
    }
}

/// Whether `Cache-Control` already says `private` or `no-store` (SPEC
/// section 6: an upstream's own private caching is kept).
fn keeps_private(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|directive| directive.trim().split('=').next().unwrap_or_default())
        .any(|name| name.eq_ignore_ascii_case("private") || name.eq_ignore_ascii_case("no-store"))
}

/// Steps 5 to 9: authentication, the rate limit, the CSRF rules, the
/// second-factor policy, and the handler.
#[expect(
    clippy::manual_async_fn,
    reason = "an `async fn` copies its arguments into its state twice"
)]
fn authenticated<S>(
    envelope: &Envelope,
    route: &Route,
    mut request: Request,
    connection: Option<Connection>,
    id: &RequestId,
    client: &ClientInfo,
    mut inner: S,
) -> impl Future<Output = Steps>
where
    S: Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
{
    // (An `async` block, for the reason `run` gives.)
    async move {
        // 5. The credentials, verified once; extractors read the outcome from
        //    the request's context. The session cookie is read here, once,
        //    and handed on.
        let session_cookie = SessionCookie::of(request.headers(), client.https);
        let authentication = credentials::authenticate(
            &envelope.tokens,
            &envelope.sessions,
            request.headers(),
            session_cookie.as_ref(),
        )
        .await;
        let user = authentication.user();
        // 6. The rate limit, after authentication (a signed-in client spends
        //    its user's budget) and before any other work the request asks for.
        let admission = envelope
            .rate_limit
            .admit(route.policy, &authentication, id, client)
            .await;
        let decision = match admission {
            Admission::Refused(response) => {
                return Steps {
                    response,
                    user,
                    decision: None,
                };
            }
            Admission::Allowed(decision) => Some(decision),
            Admission::Unlimited => None,
        };
        let steps = |response: Response, user: Option<CurrentUser>| Steps {
            response,
            user,
            decision,
        };
        // 7. A request the session cookie authenticates passes the CSRF rules
        //    (bearer tokens are exempt).
        if let Authentication::Session(session) = &authentication {
            let binding = Binding::session(&session.id);
            // Boxed: a rare path (cookie requests), whose form read would
            // otherwise enlarge every request's future.
            let (checked, result) = Box::pin(envelope.csrf.check(request, binding, client.https)).await;
            request = checked;
            if let Err(failure) = result {
                let refusal = csrf::refuse(
                    failure,
                    &envelope.audit,
                    user.as_ref().map(CurrentUser::username),
                    route.template.as_deref(),
                    &provenance::from(id, client),
                );
                return steps(refusal, user);
            }
        }
        // 8. The second-factor policy: a credential for enrolment only, or
        //    one without `mfa` where a covered caller needs it.
        if let Some(refusal) = envelope.factor_policy.refusal(&route.properties, user.as_ref()) {
            return steps(refusal, user);
        }
        request.extensions_mut().insert(RequestContext {
            id: id.clone(),
            route: route.template.clone(),
            client: *client,
            authentication,
            session: session_cookie,
            connection,
        });
        // 9. The body limit, then the handler, below the remaining layers.
        let Some(request) = limit_body(request, envelope.max_body_bytes) else {
            return steps(StatusCode::PAYLOAD_TOO_LARGE.into_response(), user);
        };
        // (The router, and axum's body-limit service around it, are always
        // ready: neither's `poll_ready` waits, so neither is asked first.)
        let response = match inner.call(request).await {
            Ok(response) => response.into_response(),
            Err(never) => match never {},
        };
        steps(response, user)
    }
}

/// Bodies over `max` bytes are refused (OWASP API4): `None` (413 at once)
/// for a declared length over it, else the body is cut off at `max` as it is read
/// (the extractors answer 413, as the gateway does). tower-http's
/// `RequestBodyLimit` does the same as one more service per route, and
/// wraps every body, empty ones too; here a request without one (a `GET`)
/// costs a header lookup.
fn limit_body(request: Request, max: usize) -> Option<Request> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max as u64) {
        return None;
    }
    if http_body::Body::is_end_stream(request.body()) {
        return Some(request);
    }
    Some(request.map(|body| Body::new(http_body_util::Limited::new(body, max))))
}

/// Steps 14 to 16, on every response.
fn finish(
    response: Response,
    id: &request_id::RequestId,
    client: &ClientInfo,
    log: AccessLog,
    user: Option<CurrentUser>,
) -> Response {
    // 14. Bare error statuses from below get the spec's body.
    let mut response = error::fill_body(response, id);
    // 15. The request id, on every response.
    request_id::stamp(&mut response, id);
    // 16. One log line and one metrics sample, for the final response.
    log.finish(&response, id, client, user.as_ref().map(CurrentUser::username));
    response
}
