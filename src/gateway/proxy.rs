//! Forwarding a request the routes admit, and its answer back (SPEC
//! section 6): streamed both ways, over hyper-util's pooled client (keep-
//! alive to the upstream, a bounded number of requests in flight), with the
//! caller's identity set by rampart alone; 502 and 504 in the spec's words,
//! never the upstream's address or error.

use std::{
    future::Future,
    net::IpAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::Body,
    extract::Request,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, Uri, header, uri::PathAndQuery};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use axum::extract::{FromRequestParts, ws::WebSocketUpgrade};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::protocol::{Role, WebSocketConfig},
};

use super::{
    Gateway,
    headers::{self, X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO, X_RAMPART_ASSERTION},
    path::check,
    table::{self, Route, Verdict},
};
use crate::{
    audit::{Action, Outcome},
    auth::assertion::Caller,
    config::gateway::{self, Access},
    http::{
        client::authority,
        context::RequestContext,
        error::detail_response,
        identity::{AuthRejection, Authentication, CurrentUser},
        origin,
        resolve::{Relayed, ResolvedRoute},
        upgrade::{Admitted, Handshake, Needs},
    },
    ratelimit::{self, tally},
    realtime::{
        Credential,
        tunnel::{self, MAX_UPSTREAM_MESSAGE_BYTES},
    },
};

/// Requests in flight to the upstream at once, at most; more wait for a
/// turn (within `gateway.timeout`). Each holds one pooled connection.
const MAX_IN_FLIGHT: usize = 1024;
/// Idle pooled connections kept for reuse.
const MAX_IDLE: usize = 64;
/// An idle pooled connection is closed after this long (uvicorn closes its
/// own after 5 s; hyper notices and opens a new one).
const IDLE_TIMEOUT: Duration = Duration::from_secs(4);
/// The largest OpenAPI document read at start.
const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The upstream and the client that reaches it.
pub struct Upstream {
    client: Client<Connector, Body>,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    permits: Arc<Semaphore>,
}

impl Upstream {
    pub fn new(upstream: &gateway::Upstream) -> std::io::Result<Self> {
        let origin: Uri = upstream.origin().parse().map_err(std::io::Error::other)?;
        let parts = origin.into_parts();
        let (Some(scheme), Some(authority)) = (parts.scheme, parts.authority) else {
            return Err(std::io::Error::other("not an origin"));
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(5)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_max_idle_per_host(MAX_IDLE)
            .build(connector);
        Ok(Self {
            client,
            scheme,
            authority,
            permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        })
    }

    fn uri(&self, path_and_query: PathAndQuery) -> Uri {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .expect("an origin and a request's own path make a URI")
    }

    /// Reads a JSON document from the upstream, trying again for up to
    /// `patience` while the upstream is not answering yet.
    pub async fn fetch_json(&self, path: &str, patience: Duration) -> Result<serde_json::Value, String> {
        use http_body_util::BodyExt;
        let started = tokio::time::Instant::now();
        let path: PathAndQuery = path.parse().map_err(|_| "not a path".to_owned())?;
        loop {
            let request = http::Request::get(self.uri(path.clone()))
                .header(header::ACCEPT, "application/json")
                .body(Body::empty())
                .expect("a GET with a valid URI");
            let outcome = match tokio::time::timeout(Duration::from_secs(5), self.client.request(request))
                .await
            {
                Err(_) => Err("no answer within 5 s".to_owned()),
                Ok(Err(err)) => Err(format!("unreachable ({})", root_cause(&err))),
                Ok(Ok(response)) if response.status() != StatusCode::OK => {
                    return Err(format!("it answered {}", response.status()));
                }
                Ok(Ok(response)) => {
                    let limited = http_body_util::Limited::new(response.into_body(), MAX_DOCUMENT_BYTES);
                    let bytes = limited
                        .collect()
                        .await
                        .map_err(|err| format!("its body could not be read ({err})"))?
                        .to_bytes();
                    return serde_json::from_slice(&bytes).map_err(|err| format!("it is not JSON ({err})"));
                }
            };
            if started.elapsed() >= patience {
                return outcome;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// The innermost error of a chain: hyper-util's client wraps the one that
/// says what happened.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

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
        .and_then(|resolved| gateway.table.get(resolved.index))
    else {
        return match check(request.uri().path()) {
            Err(_) => detail_response(StatusCode::BAD_REQUEST, "Path not in normal form"),
            Ok(()) => StatusCode::NOT_FOUND.into_response(),
        };
    };
    // Every bearer token is rampart's: one that does not verify is 401,
    // even on a public route.
    let user = match RequestContext::of(request.extensions()).map(|context| &context.authentication) {
        Some(Authentication::Invalid(_)) => return AuthRejection::Invalid.into_response(),
        Some(authentication) => authentication.user(),
        None => None,
    };
    match route.admit(user.as_ref()) {
        Verdict::Pass => {}
        Verdict::Unauthenticated => return AuthRejection::Missing.into_response(),
        Verdict::Forbidden => {
            gateway.gate.audit.record(
                Action::AccessDenied,
                Outcome::Denied,
                user.as_ref().map(CurrentUser::username),
                Some(&route.label),
                &origin::of(request.extensions()),
            );
            return AuthRejection::Forbidden.into_response();
        }
    }
    if is_upgrade(request.headers()) {
        return gateway.tunnel(request, route, user.as_ref()).await;
    }
    gateway.send(request, user.as_ref()).await
}

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
    fn upstream_request<B>(
        &self,
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
            set(&mut headers, X_FORWARDED_FOR, &client.ip.to_string());
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
        });
        match self
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
        *request.uri_mut() = self.upstream.uri(path_and_query);
        *request.headers_mut() = headers;
        Ok(request)
    }

    /// Sends a request upstream within `gateway.timeout`: its answer's
    /// head, with the turn it holds.
    async fn exchange(
        &self,
        request: http::Request<Body>,
    ) -> Result<(http::Response<hyper::body::Incoming>, OwnedSemaphorePermit), Response> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let Ok(Ok(permit)) =
            tokio::time::timeout_at(deadline, self.upstream.permits.clone().acquire_owned()).await
        else {
            return Err(gateway_timeout());
        };
        match tokio::time::timeout_at(deadline, self.upstream.client.request(request)).await {
            Err(_) => Err(gateway_timeout()),
            Ok(Err(err)) => {
                if caused_by::<http_body_util::LengthLimitError>(&err) {
                    return Err(StatusCode::PAYLOAD_TOO_LARGE.into_response());
                }
                if caused_by::<BodyTimeout>(&err) {
                    // hyper has closed the upstream's connection mid-body.
                    return Err(detail_response(
                        StatusCode::REQUEST_TIMEOUT,
                        "Request body timeout",
                    ));
                }
                tracing::warn!(error = %root_cause(&err), "the upstream did not answer");
                Err(bad_gateway())
            }
            Ok(Ok(response)) => Ok((response, permit)),
        }
    }

    /// Sends `request` upstream and relays the answer, streamed. The
    /// client's body must have arrived within `limits.request_timeout`, and
    /// a client has at most `gateway.max_in_flight_per_client` requests in
    /// flight: slow bodies cannot hold every turn and upstream connection
    /// (SPEC section 11; OWASP API4:2023, CWE-400).
    async fn send(&self, request: Request, user: Option<&CurrentUser>) -> Response {
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
        let body = Body::new(Due::new(body, tokio::time::Instant::now() + self.body_timeout));
        let upstream_request = match self.upstream_request(&parts, user, body) {
            Ok(request) => request,
            Err(status) => return status.into_response(),
        };
        match self.exchange(upstream_request).await {
            Ok((response, permit)) => relayed(response, (permit, Some(in_flight))),
            Err(refusal) => refusal,
        }
    }

    /// A WebSocket upgrade: through the gate like `/ws/items`, then the
    /// upstream's own upgrade, then the tunnel between the two.
    async fn tunnel(&self, request: Request, route: &Route, user: Option<&CurrentUser>) -> Response {
        let (mut parts, _) = request.into_parts();
        let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &()).await;
        let handshake = match Handshake::from_request_parts(&mut parts, &()).await {
            Ok(handshake) => handshake,
            Err(rejection) => return rejection.into_response(),
        };
        let needs = if route.access == Access::Public {
            Needs::Anyone
        } else {
            Needs::Caller
        };
        let Admitted {
            mut upgrade,
            credential,
            slot,
            idle,
        } = match self.gate.admit(handshake, upgrade, needs) {
            Ok(admitted) => admitted,
            Err(refusal) => return refusal.into_response(),
        };
        // Watched before either side is answered: nothing that ends the
        // credential from here on is missed.
        let changes = self.gate.sockets.watch_changes();
        let mut upstream_request = match self.upstream_request(&parts, user, Body::empty()) {
            Ok(request) => request,
            Err(status) => return status.into_response(),
        };
        headers::upgrade(upstream_request.headers_mut(), &parts.headers);
        let (response, permit) = match self.exchange(upstream_request).await {
            Ok(answer) => answer,
            Err(refusal) => return refusal,
        };
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            // The upstream refused the upgrade: its answer, as any other.
            return relayed(response, (permit, None));
        }
        let selected = response.headers().get(header::SEC_WEBSOCKET_PROTOCOL).cloned();
        let upgraded = match hyper::upgrade::on(response).await {
            Ok(upgraded) => upgraded,
            Err(err) => {
                tracing::warn!(error = %root_cause(&err), "the upstream's WebSocket upgrade failed");
                return bad_gateway();
            }
        };
        if let Some(selected) = selected {
            upgrade.set_selected_protocol(selected);
        }
        let access = route.access.clone();
        let rule: tunnel::Rule = Box::new(move |credential: &Credential| {
            table::admits(&access, Some(credential)) == Verdict::Pass
        });
        upgrade.on_upgrade(move |socket| async move {
            if let Some(idle) = idle {
                idle.stop();
            }
            let mut config = WebSocketConfig::default();
            config.max_message_size = Some(MAX_UPSTREAM_MESSAGE_BYTES);
            config.max_frame_size = Some(MAX_UPSTREAM_MESSAGE_BYTES);
            let upstream =
                WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, Some(config)).await;
            tunnel::relay(socket, upstream, credential, rule, slot, changes).await;
            drop(permit);
        })
    }
}

/// What a forwarded request holds until its answer's last byte: its turn,
/// and its place among its client's requests in flight.
type Turn = (OwnedSemaphorePermit, Option<tally::Held<Sender>>);

/// The upstream's answer, relayed: streamed, holding its turn until the
/// last byte, with only what may cross (SPEC section 6).
fn relayed(response: http::Response<hyper::body::Incoming>, permit: Turn) -> Response {
    let (mut parts, body) = response.into_parts();
    headers::outbound(&mut parts.headers);
    parts.extensions = http::Extensions::new();
    parts.extensions.insert(Relayed);
    Response::from_parts(
        parts,
        Body::new(Held {
            body,
            _permit: permit,
        }),
    )
}

fn bad_gateway() -> Response {
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

pin_project_lite::pin_project! {
    /// The upstream's body, holding its turn until the last byte.
    struct Held {
        #[pin]
        body: hyper::body::Incoming,
        _permit: Turn,
    }
}

impl HttpBody for Held {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Whose requests in flight a forwarded request counts among.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Sender {
    /// An authenticated caller, by user name (lower case).
    User(String),
    /// An anonymous one, by client address (IPv6: its /64).
    Network(IpAddr),
}

/// A client's body that did not arrive by its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimeout;

pin_project_lite::pin_project! {
    /// The client's body on its way upstream, due by a deadline: past it,
    /// the body fails with [`BodyTimeout`], and hyper aborts the upstream
    /// request. The timer is armed only when the body makes the request
    /// wait, so a body already read costs none.
    struct Due {
        #[pin]
        body: Body,
        by: tokio::time::Instant,
        timer: Option<Pin<Box<tokio::time::Sleep>>>,
    }
}

impl Due {
    fn new(body: Body, by: tokio::time::Instant) -> Self {
        Self {
            body,
            by,
            timer: None,
        }
    }
}

impl HttpBody for Due {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        if let Poll::Ready(frame) = this.body.poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let by = *this.by;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(by)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
