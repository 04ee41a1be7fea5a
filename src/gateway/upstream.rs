//! The upstream and hyper-util's pooled client that reaches it: keep-alive,
//! a bounded number of requests in flight, the system's roots for an
//! `https` upstream; and the read of its OpenAPI document at start.

use std::{sync::Arc, time::Duration};

use axum::body::Body;
use http::{StatusCode, Uri, header, uri::PathAndQuery};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tokio::sync::Semaphore;

use crate::{config::gateway, outbound::Connector};

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

/// The upstream and the client that reaches it.
pub struct Upstream {
    pub(super) client: Client<Connector, Body>,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    /// `Host` for the upstream: its authority, without a default port (as
    /// the origin is written). Made once: hyper-util's client would
    /// otherwise format it for every request.
    pub(super) host: http::HeaderValue,
    pub(super) permits: Arc<Semaphore>,
}

impl Upstream {
    pub fn new(upstream: &gateway::Upstream) -> std::io::Result<Self> {
        let origin: Uri = upstream.origin().parse().map_err(std::io::Error::other)?;
        let parts = origin.into_parts();
        let (Some(scheme), Some(authority)) = (parts.scheme, parts.authority) else {
            return Err(std::io::Error::other("not an origin"));
        };
        let host = http::HeaderValue::from_str(authority.as_str()).map_err(std::io::Error::other)?;
        let connector = crate::outbound::connector(Duration::from_secs(5))?;
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_max_idle_per_host(MAX_IDLE)
            .build(connector);
        Ok(Self {
            client,
            scheme,
            authority,
            host,
            permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        })
    }

    pub(super) fn uri(&self, path_and_query: PathAndQuery) -> Uri {
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
pub(super) fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}
