//! One JSON log line and one metrics sample per request.
//!
//! The line carries the route template, never the raw path or the query
//! string, which may hold tokens (SPEC section 3, "Logging"). The line is
//! written by [`DirectLine`], not a `tracing` event: it is on every
//! request's path.

use std::{
    cell::RefCell,
    collections::HashMap,
    sync::{Arc, LazyLock, OnceLock},
    time::{Duration, Instant},
};

use axum::response::Response;
use http::Method;
use metrics::{Counter, Histogram};

use super::{client::ClientInfo, request_id::RequestId};
use crate::observability::{
    logging::{DirectLine, LineHead},
    metrics::{HTTP_REQUEST_DURATION, HTTP_REQUESTS},
};

/// The target of access lines (`RUST_LOG=rampart::access=warn` silences them).
const TARGET: &str = "rampart::access";

/// What is known of a request when it arrives.
pub struct AccessLog {
    started: Instant,
    method: &'static str,
    /// The route's template, the router's or a resolver's.
    route: Option<Arc<str>>,
}

impl AccessLog {
    pub fn start(method: &Method, route: Option<Arc<str>>) -> Self {
        Self {
            started: Instant::now(),
            method: method_label(method),
            route,
        }
    }

    /// When the request arrived: its deadline counts from here.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Logs the request and records its metrics.
    pub fn finish(
        self,
        response: &Response,
        request_id: &RequestId,
        client: &ClientInfo,
        user: Option<&str>,
    ) {
        let ended = Instant::now();
        let elapsed = ended.saturating_duration_since(self.started);
        let status = response.status().as_u16();
        let route = self.route.as_deref();
        if lines_on() {
            static HEAD: LazyLock<LineHead> = LazyLock::new(|| LineHead::info(TARGET, "request"));
            DirectLine::write(&HEAD, ended, |line| {
                line.str("request_id", Some(request_id.as_str()));
                line.str("method", Some(self.method));
                line.str("route", route);
                line.u64("status", status.into());
                line.millis("latency_ms", elapsed);
                line.ip("client_ip", client.ip);
                line.str("user", user);
            });
        }
        record(self.method, route.unwrap_or("unmatched"), status, elapsed);
    }
}

/// Whether access lines are on. The filter (`RUST_LOG`) is set once, at
/// start, before the first request, so the first request's answer holds
/// for the process; `tracing::enabled!` asks the filter each time.
fn lines_on() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| tracing::enabled!(target: TARGET, tracing::Level::INFO))
}

/// Handles by route template, then by (method, status). foldhash, not
/// std's SipHash: the keys are the server's own route templates, not a
/// client's input, so there is no hash flooding to resist.
type HandleCache = HashMap<
    String,
    HashMap<(&'static str, u16), (Counter, Histogram), foldhash::fast::FixedState>,
    foldhash::fast::FixedState,
>;

thread_local! {
    /// Metric handles by route, then (method, status). Registering a labelled
    /// metric allocates and hashes its labels; the handles are looked up here
    /// instead, per worker thread, so the hot path takes no lock. The map is
    /// bounded by routes x methods x statuses.
    static HANDLES: RefCell<HandleCache> = RefCell::new(HashMap::default());
}

/// Counts the request and samples its latency, with the handles looked up
/// in place (a clone of each would cost two atomic operations).
fn record(method: &'static str, route: &str, status: u16, elapsed: Duration) {
    let bump = |by_status: &mut HashMap<_, _, _>| {
        let (count, latency): &mut (Counter, Histogram) =
            by_status.entry((method, status)).or_insert_with(|| {
                let labels = [
                    ("method", method.to_owned()),
                    ("route", route.to_owned()),
                    ("status", status.to_string()),
                ];
                (
                    metrics::counter!(HTTP_REQUESTS, &labels),
                    metrics::histogram!(HTTP_REQUEST_DURATION, &labels),
                )
            });
        count.increment(1);
        latency.record(elapsed.as_secs_f64());
    };
    HANDLES.with_borrow_mut(|by_route| match by_route.get_mut(route) {
        Some(by_status) => bump(by_status),
        None => bump(by_route.entry(route.to_owned()).or_default()),
    })
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}
