//! The scan's HTTP client: every request the scan makes goes through
//! [`Prober::send`], which holds the scan to its bounds (SPEC section 10):
//! at most `--max-requests` in all, at most 20 in any one-second window,
//! and no unsafe method but the login's unless `--allow-writes`.
//!
//! The window is kept here, by the times of the last 20 requests: a token
//! bucket (governor) bounds the average rate, but lets a full bucket and a
//! second's refill through in one second, twice the bound.

use std::{collections::VecDeque, time::Duration};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tokio::time::Instant;

use crate::outbound::{self, Connector};

/// At most this many requests in any one-second window.
pub const PER_SECOND: usize = 20;
const WINDOW: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_secs(10);
/// What of an answer's body the checks read.
pub const BODY_KEPT: usize = 64 * 1024;

/// One request to make.
#[derive(Clone, Debug)]
pub struct Probe {
    pub method: Method,
    /// A path (and query) on the target, or an absolute URL.
    pub path: String,
    pub headers: Vec<(HeaderName, String)>,
    pub body: Option<(&'static str, Bytes)>,
    /// How much of the answer's body to read.
    pub keep: usize,
}

impl Probe {
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            headers: Vec::new(),
            body: None,
            keep: BODY_KEPT,
        }
    }

    pub fn post(path: impl Into<String>, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Self {
            method: Method::POST,
            path: path.into(),
            headers: Vec::new(),
            body: Some((content_type, body.into())),
            keep: BODY_KEPT,
        }
    }

    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Reads up to `bytes` of the answer's body (an OpenAPI document).
    pub fn keeping(mut self, bytes: usize) -> Self {
        self.keep = bytes;
        self
    }
}

/// The first `keep` bytes of `body`; the rest is not waited for.
async fn first_bytes(mut body: hyper::body::Incoming, keep: usize) -> Bytes {
    let mut kept = bytes::BytesMut::new();
    while kept.len() < keep {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    let room = keep - kept.len();
                    kept.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            _ => break,
        }
    }
    kept.freeze()
}

/// An error and its causes, one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut line = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        line.push_str(": ");
        line.push_str(&inner.to_string());
        cause = inner.source();
    }
    line
}

/// A request made and what came back.
#[derive(Debug)]
pub struct Exchange {
    pub method: Method,
    pub path: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The first 64 KiB, as text.
    pub body: String,
}

impl Exchange {
    pub fn header(&self, name: &HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// `GET /path -> 200`, for evidence.
    pub fn line(&self) -> String {
        format!("{} {} -> {}", self.method, self.path, self.status.as_u16())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("the request budget is spent")]
    Spent,
    #[error("{0} is not sent without --allow-writes")]
    Write(String),
    #[error("{0}")]
    Failed(String),
}

pub struct Prober {
    client: Client<Connector, Full<Bytes>>,
    base: Uri,
    budget: u32,
    sent: u32,
    recent: VecDeque<Instant>,
    allow_writes: bool,
    /// The one path an unsafe method may go to without `--allow-writes`.
    login_path: Option<String>,
    progress: Box<dyn FnMut(u32, u32) + Send>,
    /// The requests that got no answer, and why.
    failures: Vec<String>,
}

impl Prober {
    pub fn new(
        base: Uri,
        budget: u32,
        allow_writes: bool,
        login_path: Option<String>,
        progress: Box<dyn FnMut(u32, u32) + Send>,
    ) -> std::io::Result<Self> {
        // A connection per request: a target that closes its connection
        // after an error (uvicorn after a 500) would otherwise fail the
        // next request sent on it from the pool, unsent.
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(outbound::connector(TIMEOUT)?);
        Ok(Self {
            client,
            base,
            budget,
            sent: 0,
            recent: VecDeque::with_capacity(PER_SECOND),
            allow_writes,
            login_path,
            progress,
            failures: Vec::new(),
        })
    }

    pub fn sent(&self) -> u32 {
        self.sent
    }

    pub fn remaining(&self) -> u32 {
        self.budget - self.sent
    }

    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    /// The target's URL of `path` (a path on it, or already absolute).
    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            return path.to_owned();
        }
        let scheme = self.base.scheme_str().unwrap_or("http");
        let authority = self.base.authority().map_or("", |a| a.as_str());
        format!("{scheme}://{authority}{path}")
    }

    /// Waits until one more request keeps the last second's within
    /// [`PER_SECOND`].
    async fn pace(&mut self) {
        if self.recent.len() == PER_SECOND {
            let oldest = self.recent.pop_front().unwrap_or_else(Instant::now);
            tokio::time::sleep_until(oldest + WINDOW).await;
        }
        self.recent.push_back(Instant::now());
    }

    pub async fn send(&mut self, probe: Probe) -> Result<Exchange, ProbeError> {
        let safe = matches!(probe.method, Method::GET | Method::HEAD | Method::OPTIONS);
        let login = self.login_path.as_deref() == Some(probe.path.as_str());
        if !safe && !login && !self.allow_writes {
            return Err(ProbeError::Write(format!("{} {}", probe.method, probe.path)));
        }
        if self.sent >= self.budget {
            return Err(ProbeError::Spent);
        }
        self.pace().await;
        self.sent += 1;
        (self.progress)(self.sent, self.budget);
        let mut request = Request::builder()
            .method(probe.method.clone())
            .uri(self.url(&probe.path));
        for (name, value) in &probe.headers {
            request = request.header(name, value);
        }
        let body = match probe.body {
            Some((content_type, body)) => {
                request = request.header(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
                body
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(body))
            .map_err(|err| ProbeError::Failed(format!("{} {}: {err}", probe.method, probe.path)))?;
        let answered = match tokio::time::timeout(TIMEOUT, self.client.request(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(err)) => Err(format!("{} {}: {}", probe.method, probe.path, error_chain(&err))),
            Err(_) => Err(format!("{} {}: no answer within 10 s", probe.method, probe.path)),
        };
        let response = answered.map_err(|failure| {
            self.failures.push(failure.clone());
            ProbeError::Failed(failure)
        })?;
        let (parts, body) = response.into_parts();
        let bytes = tokio::time::timeout(TIMEOUT, first_bytes(body, probe.keep))
            .await
            .unwrap_or_default();
        Ok(Exchange {
            method: probe.method,
            path: probe.path,
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prober(budget: u32, allow_writes: bool) -> Prober {
        let base: Uri = "http://127.0.0.1:9".parse().unwrap();
        Prober::new(
            base,
            budget,
            allow_writes,
            Some("/token".to_owned()),
            Box::new(|_, _| {}),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn no_unsafe_method_but_the_logins_without_allow_writes() {
        let mut prober = prober(10, false);
        let delete = Probe {
            method: Method::DELETE,
            ..Probe::get("/items/1")
        };
        assert!(matches!(prober.send(delete).await, Err(ProbeError::Write(_))));
        let post = Probe::post("/items/", "application/json", "{}");
        assert!(matches!(prober.send(post).await, Err(ProbeError::Write(_))));
        assert_eq!(prober.sent(), 0, "a refused probe spends nothing");
        // The login's post is let through (and fails: nothing listens).
        let login = Probe::post("/token", "application/x-www-form-urlencoded", "a=b");
        assert!(matches!(prober.send(login).await, Err(ProbeError::Failed(_))));
        assert_eq!(prober.sent(), 1);
    }

    #[tokio::test]
    async fn the_budget_is_never_exceeded() {
        let mut prober = prober(2, true);
        for _ in 0..2 {
            assert!(matches!(
                prober.send(Probe::get("/")).await,
                Err(ProbeError::Failed(_))
            ));
        }
        assert!(matches!(
            prober.send(Probe::get("/")).await,
            Err(ProbeError::Spent)
        ));
        assert_eq!((prober.sent(), prober.remaining()), (2, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn no_second_holds_more_than_twenty() {
        let mut prober = prober(100, false);
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..50 {
            prober.pace().await;
            times.push(Instant::now() - start);
        }
        for (i, at) in times.iter().enumerate() {
            let within = times[i..].iter().filter(|t| **t - *at < WINDOW).count();
            assert!(
                within <= PER_SECOND,
                "{within} requests in the second from {at:?}"
            );
        }
        assert!(
            times[49] >= Duration::from_secs(2),
            "50 requests take at least two seconds"
        );
    }
}
