//! One JSON log line and one metrics sample per request.
//!
//! The line carries the route template, never the raw path or the query
//! string, which may hold tokens (SPEC section 3, "Logging").

use std::{cell::RefCell, collections::HashMap, time::Instant};

use axum::{
    extract::{MatchedPath, Request},
    response::Response,
};
use http::Method;
use metrics::{Counter, Histogram};

use super::{client::ClientInfo, request_id::RequestId};
use crate::observability::metrics::{HTTP_REQUEST_DURATION, HTTP_REQUESTS};

/// What is known of a request when it arrives.
pub struct AccessLog {
    started: Instant,
    method: &'static str,
    route: Option<MatchedPath>,
}

impl AccessLog {
    pub fn start(request: &Request) -> Self {
        Self {
            started: Instant::now(),
            method: method_label(request.method()),
            route: request.extensions().get::<MatchedPath>().cloned(),
        }
    }

    /// Logs the request and records its metrics.
    pub fn finish(
        self,
        response: &Response,
        request_id: &RequestId,
        client: &ClientInfo,
        user: Option<&str>,
    ) {
        let elapsed = self.started.elapsed();
        let status = response.status().as_u16();
        let route = self.route.as_ref().map(MatchedPath::as_str);
        tracing::info!(
            target: "rampart::access",
            request_id = request_id.as_str(),
            method = self.method,
            route,
            status,
            latency_ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3,
            client_ip = %client.ip,
            user,
            "request"
        );
        let (count, latency) = handles(self.method, route.unwrap_or("unmatched"), status);
        count.increment(1);
        latency.record(elapsed.as_secs_f64());
    }
}

type Handles = (Counter, Histogram);
/// Handles by route template, then by (method, status).
type HandleCache = HashMap<String, HashMap<(&'static str, u16), Handles>>;

thread_local! {
    /// Metric handles by route, then (method, status). Registering a labelled
    /// metric allocates and hashes its labels; the handles are looked up here
    /// instead, per worker thread, so the hot path takes no lock. The map is
    /// bounded by routes x methods x statuses.
    static HANDLES: RefCell<HandleCache> = RefCell::new(HashMap::new());
}

fn handles(method: &'static str, route: &str, status: u16) -> Handles {
    HANDLES.with_borrow_mut(|by_route| {
        if !by_route.contains_key(route) {
            by_route.insert(route.to_owned(), HashMap::new());
        }
        let by_status = by_route.get_mut(route).expect("inserted above");
        by_status
            .entry((method, status))
            .or_insert_with(|| {
                let labels = [
                    ("method", method.to_owned()),
                    ("route", route.to_owned()),
                    ("status", status.to_string()),
                ];
                (
                    metrics::counter!(HTTP_REQUESTS, &labels),
                    metrics::histogram!(HTTP_REQUEST_DURATION, &labels),
                )
            })
            .clone()
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
