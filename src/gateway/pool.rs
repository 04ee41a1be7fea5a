//! The connections the gateway keeps open to one upstream: HTTP/1.1 over
//! hyper's own client connections (`hyper::client::conn::http1`), each
//! carrying one request at a time. An answered connection waits idle for
//! the next request, newest first, at most [`MAX_IDLE`] of them and each
//! for at most [`IDLE_TIMEOUT`].
//!
//! Written here rather than taken from hyper-util's `client::legacy::Client`:
//! for every request that client hashes its pool key (the scheme and
//! authority, with SipHash) to check a connection out and again to put it
//! back, spawns a task that waits for the connection to be ready again, and
//! boxes its futures: 10,600 of the 222,300 instructions of a forwarded
//! request (`scripts/perf-guard`, `gateway`, release build), and more than
//! that in time (benches/README.md). One upstream is one pool here, so
//! there is no key at all, and a connection goes back when its answer's
//! last byte has been read, when hyper has already made it ready.
//! hyper-util's composable `client::pool::cache` puts a connection back when
//! its handle drops (an HTTP/1 one possibly still reading its answer) and
//! expires none.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, Once, Weak},
    time::Duration,
};

use axum::body::Body;
use http::{Request, Response, Uri};
use hyper::{body::Incoming, client::conn::http1};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::outbound::Connector;

/// Idle connections kept for reuse.
const MAX_IDLE: usize = 64;
/// An idle connection is closed after this long (uvicorn closes its own
/// after 5 s: closing first spares a request the race with the upstream's
/// close).
const IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// Why an upstream gave no answer: it could not be reached, or the
/// exchange failed (the error's sources say how).
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The connections to one upstream.
pub struct Pool {
    connector: Connector,
    /// Where the connector connects: the upstream's origin.
    origin: Uri,
    /// Ready connections, the most recently used last.
    idle: Mutex<VecDeque<Idle>>,
    /// Starts the task that closes expired idle connections, once.
    reaper: Once,
}

struct Idle {
    sender: http1::SendRequest<Body>,
    since: Instant,
}

/// A connection lent to one exchange: given back to the pool when dropped,
/// as soon as hyper has made it ready again. hyper closes it instead when
/// it cannot be reused (an answer dropped before its end that it had not
/// read whole, an upgrade), and the pool lets it go.
pub struct Lease {
    pool: Arc<Pool>,
    sender: Option<http1::SendRequest<Body>>,
}

impl Pool {
    pub fn new(connector: Connector, origin: Uri) -> Arc<Self> {
        Arc::new(Self {
            connector,
            origin,
            idle: Mutex::new(VecDeque::new()),
            reaper: Once::new(),
        })
    }

    /// Sends `request` (its URI in origin form, its `Host` set) on an idle
    /// connection, or a new one: the answer's head, and the connection to
    /// give back (drop) once its body has been read. A
    /// request an idle connection closed under before sending any of it is
    /// sent again on another, whatever its method: RFC 9110 section 9.2.2
    /// allows a retry where the client knows the request was never applied,
    /// and hyper hands a request back only if it wrote none of it.
    pub async fn send(
        self: &Arc<Self>,
        mut request: Request<Body>,
    ) -> Result<(Response<Incoming>, Lease), Error> {
        loop {
            let (mut sender, reused) = match self.take() {
                Some(sender) => (sender, true),
                None => (self.connect().await?, false),
            };
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let lease = Lease {
                        pool: Arc::clone(self),
                        sender: Some(sender),
                    };
                    return Ok((response, lease));
                }
                Err(mut failed) => match failed.take_message() {
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(failed.into_error().into()),
                },
            }
        }
    }

    /// The newest idle connection still ready, if any.
    fn take(&self) -> Option<http1::SendRequest<Body>> {
        let now = Instant::now();
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some(Idle { sender, since }) = idle.pop_back() {
            if now.saturating_duration_since(since) >= IDLE_TIMEOUT {
                // The newest has expired, so have all the others.
                idle.clear();
                return None;
            }
            if sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    /// A new connection, driven by a task of its own until it closes.
    async fn connect(&self) -> Result<http1::SendRequest<Body>, Error> {
        let io = self.connector.clone().oneshot(self.origin.clone()).await?;
        let (sender, connection) = http1::handshake(io).await?;
        tokio::spawn(async move {
            if let Err(err) = connection.with_upgrades().await {
                tracing::debug!(error = %err, "an upstream connection ended in error");
            }
        });
        Ok(sender)
    }

    /// Keeps a ready connection for the next request.
    fn keep(self: &Arc<Self>, sender: http1::SendRequest<Body>) {
        self.reaper.call_once(|| self.start_reaper());
        let now = Instant::now();
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push_back(Idle { sender, since: now });
        }
    }

    /// Closes idle connections that have expired, every [`IDLE_TIMEOUT`],
    /// for as long as the pool is in use.
    fn start_reaper(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let pool: Weak<Self> = Arc::downgrade(self);
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval(IDLE_TIMEOUT);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(pool) = pool.upgrade() else { return };
                let now = Instant::now();
                let expired: Vec<Idle> = {
                    let mut idle = pool
                        .idle
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    let fresh = idle
                        .iter()
                        .position(|kept| now.saturating_duration_since(kept.since) < IDLE_TIMEOUT)
                        .unwrap_or(idle.len());
                    idle.drain(..fresh).collect()
                };
                // Closed outside the lock.
                drop(expired);
            }
        });
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(mut sender) = self.sender.take() else {
            return;
        };
        if sender.is_ready() {
            self.pool.keep(sender);
        } else if !sender.is_closed()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            // hyper has not finished with it yet (or will close it): a
            // task waits for either. Outside a runtime (at its shutdown)
            // the connection just closes.
            let pool = Arc::clone(&self.pool);
            runtime.spawn(async move {
                if sender.ready().await.is_ok() {
                    pool.keep(sender);
                }
            });
        }
    }
}
