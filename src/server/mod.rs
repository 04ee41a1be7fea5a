//! Listeners: accept connections, bound how many are served at once, serve
//! HTTP/1.1 and HTTP/2 with hyper, and shut down gracefully.
//!
//! The accept loop is written out (as in axum's low-level examples) rather
//! than `axum::serve`, because rampart needs what that helper does not offer:
//! a connection bound, a header-read time-out against slow clients, a
//! deadline on graceful shutdown, and (with TLS) handshakes off the accept
//! loop.

mod shutdown;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::Router;
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::Semaphore};
use tower::ServiceExt;

pub use shutdown::{Shutdown, wait_for_signal};

use crate::http::client::Connection;

/// How long a client may take to send a request's headers (slowloris).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Limits of one listener.
#[derive(Clone, Copy, Debug)]
pub struct ListenerLimits {
    pub max_connections: usize,
    /// How long in-flight requests may run on after shutdown begins.
    pub shutdown_deadline: Duration,
}

/// Serves `app` on `listener` until `shutdown` fires, then stops accepting,
/// lets in-flight requests finish up to the deadline, and returns.
pub async fn serve(listener: TcpListener, app: Router, limits: ListenerLimits, shutdown: Shutdown) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
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
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(with_connection_info(app.clone(), peer, false));
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors here are clients going away mid-request: nothing to do.
            let _ = connection.await;
            drop(permit);
        });
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

/// Gives every request on a connection its peer address and transport.
fn with_connection_info(
    app: Router,
    peer: SocketAddr,
    tls: bool,
) -> impl tower::Service<
    http::Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone {
    app.map_request(move |mut request: http::Request<Incoming>| {
        request.extensions_mut().insert(Connection { peer, tls });
        request
    })
}
