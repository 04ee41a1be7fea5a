//! Listeners: accept connections, bound how many are served at once, serve
//! HTTP/1.1 and HTTP/2 with hyper, and shut down gracefully.
//!
//! The accept loop is written out (as in axum's low-level examples) rather
//! than `axum::serve`, because rampart needs what that helper does not offer:
//! a connection bound, a header-read time-out against slow clients, a
//! deadline on graceful shutdown, and (with TLS) handshakes off the accept
//! loop.

mod idle;
pub mod memory;
mod shutdown;
pub mod tls;

use std::{
    convert::Infallible,
    future::Future,
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::{
        conn::auto::Builder,
        graceful::{GracefulShutdown, Watcher},
    },
};
use ipnet::IpNet;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};
use tokio_rustls::TlsAcceptor;

use crate::{
    observability::metrics::CONNECTIONS_REFUSED,
    ratelimit::{
        network,
        tally::{Held, Tally},
    },
};

pub use idle::IdleTimer;
pub use shutdown::{Shutdown, wait_for_signal};

/// What a listener serves: a router, bare or inside the stack.
///
/// hyper asks a service by reference (`hyper::service::Service`), so a
/// request costs no clone of the whole app, as tower's `&mut self` (which
/// hyper-util's `TowerToHyperService` bridges by cloning the service per
/// request) would.
pub trait App: Clone + Send + Sync + 'static {
    type Future: Future<Output = Result<axum::response::Response, Infallible>> + Send + 'static;

    /// The app for the requests of one connection, which it tells them
    /// of.
    fn connected(&self, connection: Connection) -> Self;

    /// Answers one request.
    fn answer(&self, request: http::Request<Incoming>) -> Self::Future;
}

/// A bare router (the admin listener's) has no use for the connection.
impl App for axum::Router {
    type Future = axum::routing::future::RouteFuture<Infallible>;

    fn connected(&self, _: Connection) -> Self {
        self.clone()
    }

    fn answer(&self, request: http::Request<Incoming>) -> Self::Future {
        // An axum router is always ready (its `poll_ready` answers `Ready`
        // at once), so it is called without being asked first.
        tower::Service::call(&mut self.clone(), request)
    }
}

use self::idle::{HeadTimer, IdleIo};

/// The connection a request arrived on, set by the listener on every
/// request; the envelope moves it into the request's context
/// (`http::client` resolves the client from it; a WebSocket stops its idle
/// clock once upgraded).
#[derive(Clone, Debug)]
pub struct Connection {
    pub peer: SocketAddr,
    pub tls: bool,
    pub idle: IdleTimer,
}

/// How long a client may take to send a request's headers (slowloris).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The first byte of every TLS connection: a handshake record (RFC 8446
/// section 5.1).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// How a listener speaks.
#[derive(Clone)]
pub enum Transport<A> {
    Plain,
    /// TLS; a client speaking plain HTTP to this port is answered by
    /// `plain` (the HTTPS-required app) instead of a dropped connection.
    Tls {
        acceptor: TlsAcceptor,
        plain: A,
    },
}

/// Limits of one listener.
#[derive(Clone, Debug)]
pub struct ListenerLimits {
    pub max_connections: usize,
    /// The cap on one client's open connections, if the listener has one.
    pub per_client: Option<ClientCap>,
    /// A connection that moves no byte for this long is closed.
    pub idle_timeout: Duration,
    /// How long in-flight requests may run on after shutdown begins.
    pub shutdown_deadline: Duration,
}

/// At most `limits.max_connections_per_client` open connections per client
/// address (IPv6: its /64), counted at accept: a client over it has its new
/// connection closed before a byte is read, so no amount of pings or cheap
/// requests on idle connections lets one client hold the pool (SPEC
/// section 11; OWASP API4:2023). The peers in `proxy.trusted` are exempt:
/// every client behind them shares their address. Listeners that share a
/// cap (the public and the redirect one) share its counts.
#[derive(Clone, Debug)]
pub struct ClientCap {
    connections: Arc<Tally<IpAddr>>,
    exempt: Arc<[IpNet]>,
}

impl ClientCap {
    pub fn new(max: usize, exempt: impl IntoIterator<Item = IpNet>) -> Self {
        Self {
            connections: Tally::new(max),
            exempt: exempt.into_iter().collect(),
        }
    }

    /// A place for one more connection from `peer`: `Ok(None)` for an
    /// exempt peer, `Err(())` for a client at its cap.
    fn admit(&self, peer: IpAddr) -> Result<Option<Held<IpAddr>>, ()> {
        let peer = peer.to_canonical();
        if self.exempt.iter().any(|net| net.contains(&peer)) {
            return Ok(None);
        }
        self.connections.take(network(peer)).map(Some).ok_or(())
    }
}

/// Serves `app` on `listener` until `shutdown` fires, then stops accepting,
/// lets in-flight requests finish up to the deadline, and returns.
pub async fn serve<A: App>(
    listener: TcpListener,
    app: A,
    transport: Transport<A>,
    limits: ListenerLimits,
    shutdown: Shutdown,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    // Each connection's own timer for the header-read deadline is set in
    // `serve_connection`.
    builder.http1().header_read_timeout(HEADER_READ_TIMEOUT);
    let builder = Arc::new(builder);
    let local = listener.local_addr().ok();

    loop {
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                tracing::warn!(
                    listener = local.map(tracing::field::display),
                    max_connections = limits.max_connections,
                    "connection limit reached; new connections wait"
                );
                tokio::select! {
                    permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                    () = shutdown.wait() => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: back off briefly
                    // instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.wait() => break,
        };
        let held = match limits.per_client.as_ref().map(|cap| cap.admit(peer.ip())) {
            Some(Err(())) => {
                metrics::counter!(CONNECTIONS_REFUSED, "reason" => "per_client").increment(1);
                // Dropped unread: the client sees its connection closed.
                drop(stream);
                continue;
            }
            Some(Ok(held)) => held,
            None => None,
        };
        let _ = stream.set_nodelay(true);
        let idle_timeout = limits.idle_timeout;
        // However it trickles, a new connection has `idle_timeout` from
        // here to deliver its first request (TLS handshake, HTTP/2 preface
        // and first headers included).
        let first_request_by = tokio::time::Instant::now() + idle_timeout;
        let builder = builder.clone();
        let watcher = graceful.watcher();
        match &transport {
            Transport::Plain => {
                let app = app.clone();
                tokio::spawn(async move {
                    let stream = IdleIo::new(stream, idle_timeout);
                    let conn = ConnectionInfo::new(peer, false, stream.timer(), stream.head_timer());
                    serve_connection(&builder, stream, app, conn, watcher, first_request_by).await;
                    drop((permit, held));
                });
            }
            Transport::Tls { acceptor, plain } => {
                let (acceptor, app, plain) = (acceptor.clone(), app.clone(), plain.clone());
                tokio::spawn(async move {
                    // The handshake runs here, off the accept loop, bounded
                    // in time like the header read.
                    let opened = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
                        let tls = speaks_tls(&stream).await;
                        let stream = IdleIo::new(stream, idle_timeout);
                        let timers = (stream.timer(), stream.head_timer());
                        let opened = if tls {
                            acceptor
                                .accept(stream)
                                .await
                                .ok()
                                .map(|s| Opened::Tls(Box::new(s)))
                        } else {
                            Some(Opened::Plain(stream))
                        };
                        opened.map(|opened| (opened, timers))
                    })
                    .await;
                    match opened {
                        Ok(Some((Opened::Tls(stream), (idle, head)))) => {
                            let conn = ConnectionInfo::new(peer, true, idle, head);
                            serve_connection(&builder, stream, app, conn, watcher, first_request_by).await;
                        }
                        Ok(Some((Opened::Plain(stream), (idle, head)))) => {
                            let conn = ConnectionInfo::new(peer, false, idle, head);
                            serve_connection(&builder, stream, plain, conn, watcher, first_request_by).await;
                        }
                        // A failed or slow handshake: rustls has sent its
                        // alert; the connection closes.
                        Ok(None) | Err(_) => {}
                    }
                    drop((permit, held));
                });
            }
        }
    }

    drop(listener);
    if tokio::time::timeout(limits.shutdown_deadline, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            deadline_s = limits.shutdown_deadline.as_secs(),
            "shutdown deadline passed with requests still in flight"
        );
    }
}

/// A connection on a TLS port, after its first bytes.
enum Opened {
    Tls(Box<tokio_rustls::server::TlsStream<IdleIo<TcpStream>>>),
    Plain(IdleIo<TcpStream>),
}

/// Whether the client opened with a TLS handshake record (the byte is only
/// peeked: the handshake still reads it).
async fn speaks_tls(stream: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(stream.peek(&mut first).await, Ok(1) if first[0] == TLS_HANDSHAKE_RECORD)
}

/// Serves one connection until it closes or shutdown ends it; closes it
/// if no request has arrived by `first_request_by`.
///
/// hyper bounds an HTTP/1 header read, but the protocol detection of its
/// auto builder (the 24-byte HTTP/2 preface) and the HTTP/2 handshake have
/// no deadline, and the idle clock restarts at every byte: a client
/// trickling the preface would hold a connection slot for as long as it
/// likes (OWASP API4).
async fn serve_connection<I, A: App>(
    builder: &Builder<TokioExecutor>,
    io: I,
    app: A,
    conn: ConnectionInfo,
    watcher: Watcher,
    first_request_by: tokio::time::Instant,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let first = conn.first.clone();
    let service = ConnectionService {
        app: app.connected(conn.connection),
        first: conn.first,
    };
    // The header-read deadline is kept by this connection's idle clock.
    let mut builder = builder.clone();
    builder.http1().timer(conn.head);
    let connection = builder
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .into_owned();
    // Errors here are clients going away mid-request: nothing to do.
    let connection = watcher.watch(connection);
    tokio::pin!(connection);
    tokio::select! {
        _ = &mut connection => return,
        () = first.arrived.notified() => {}
        // Dropping the connection closes it.
        () = tokio::time::sleep_until(first_request_by) => return,
    }
    let _ = connection.await;
}

/// Whether a connection's first request has arrived.
#[derive(Default)]
struct FirstRequest {
    seen: AtomicBool,
    arrived: tokio::sync::Notify,
}

impl FirstRequest {
    /// Called for every request; wakes the waiter once.
    fn note(&self) {
        if !self.seen.load(Ordering::Relaxed) && !self.seen.swap(true, Ordering::Relaxed) {
            // A permit is stored if nobody waits yet.
            self.arrived.notify_one();
        }
    }
}

/// What every request on a connection is told of it.
#[derive(Clone)]
struct ConnectionInfo {
    connection: Connection,
    first: Arc<FirstRequest>,
    head: HeadTimer,
}

impl ConnectionInfo {
    fn new(peer: SocketAddr, tls: bool, idle: IdleTimer, head: HeadTimer) -> Self {
        Self {
            connection: Connection { peer, tls, idle },
            first: Arc::default(),
            head,
        }
    }
}

/// Tells every request on a connection of its peer address, transport and
/// idle timer, and the connection of its first request.
struct ConnectionService<A> {
    app: A,
    first: Arc<FirstRequest>,
}

impl<A: App> hyper::service::Service<http::Request<Incoming>> for ConnectionService<A> {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = A::Future;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        self.first.note();
        self.app.answer(request)
    }
}
