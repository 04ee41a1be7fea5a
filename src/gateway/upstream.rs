//! The upstream and the connections that reach it ([`pool`](super::pool)):
//! keep-alive, a bounded number of requests in flight, the system's roots
//! for an `https` upstream; and the read of its OpenAPI document at start.

use std::{sync::Arc, time::Duration};

use axum::body::Body;
use http::{StatusCode, Uri, header, uri::PathAndQuery};
use tokio::sync::Semaphore;

use super::pool::{Lease, Pool};
use crate::config::gateway;

/// Requests in flight to the upstream at once, at most; more wait for a
/// turn (within `gateway.timeout`). Each holds one connection.
const MAX_IN_FLIGHT: usize = 1024;
/// The largest OpenAPI document read at start.
const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// The upstream and the connections that reach it.
pub struct Upstream {
    pool: Arc<Pool>,
    /// `Host` for the upstream: its authority, without a default port (as
    /// the origin is written). Made once, not per request.
    host: http::HeaderValue,
    pub(super) permits: Arc<Semaphore>,
}

impl Upstream {
    pub fn new(upstream: &gateway::Upstream) -> std::io::Result<Self> {
        let origin: Uri = upstream.origin().parse().map_err(std::io::Error::other)?;
        let Some(authority) = origin.authority().filter(|_| origin.scheme().is_some()) else {
            return Err(std::io::Error::other("not an origin"));
        };
        let host = http::HeaderValue::from_str(authority.as_str()).map_err(std::io::Error::other)?;
        let connector = crate::outbound::connector(Duration::from_secs(5))?;
        Ok(Self {
            pool: Pool::new(connector, origin),
            host,
            permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        })
    }

    /// Sends `request`, its URI in origin form, with the upstream's `Host`:
    /// the answer's head, and its connection to give back once the body
    /// has been read.
    pub(super) async fn send(
        &self,
        mut request: http::Request<Body>,
    ) -> Result<(http::Response<hyper::body::Incoming>, Lease), super::pool::Error> {
        request.headers_mut().insert(header::HOST, self.host.clone());
        self.pool.send(request).await
    }

    /// Reads a JSON document from the upstream, trying again for up to
    /// `patience` while the upstream is not answering yet.
    pub async fn fetch_json(&self, path: &str, patience: Duration) -> Result<serde_json::Value, String> {
        use http_body_util::BodyExt;
        let started = tokio::time::Instant::now();
        let path: PathAndQuery = path.parse().map_err(|_| "not a path".to_owned())?;
        loop {
            let request = http::Request::get(Uri::from(path.clone()))
                .header(header::ACCEPT, "application/json")
                .body(Body::empty())
                .expect("a GET with a valid URI");
            let outcome = match tokio::time::timeout(Duration::from_secs(5), self.send(request)).await {
                Err(_) => Err("no answer within 5 s".to_owned()),
                Ok(Err(err)) => Err(format!("unreachable ({})", root_cause(&*err))),
                Ok(Ok((response, _))) if response.status() != StatusCode::OK => {
                    return Err(format!("it answered {}", response.status()));
                }
                Ok(Ok((response, lease))) => {
                    let limited = http_body_util::Limited::new(response.into_body(), MAX_DOCUMENT_BYTES);
                    let bytes = limited
                        .collect()
                        .await
                        .map_err(|err| format!("its body could not be read ({err})"))?
                        .to_bytes();
                    drop(lease);
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

/// The innermost error of a chain: the one that says what happened.
pub(super) fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}
