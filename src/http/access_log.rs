//! One JSON log line and one metrics sample per request.
//!
//! The line carries the route template, never the raw path or the query
//! string, which may hold tokens (SPEC section 3, "Logging").

use std::{cell::RefCell, collections::HashMap, sync::Arc, time::Instant};

use axum::{
    extract::{MatchedPath, Request},
    response::Response,
};
use http::Method;
use metrics::{Counter, Histogram};

use super::{client::ClientInfo, request_id::RequestId, resolve::ResolvedRoute};
use crate::observability::metrics::{HTTP_REQUEST_DURATION, HTTP_REQUESTS};

/// What is known of a request when it arrives.
pub struct AccessLog {
    started: Instant,
    method: &'static str,
    route: Option<Route>,
}

/// The route's template: the router's, or a resolver's.
enum Route {
    Matched(MatchedPath),
    Resolved(Arc<str>),
}

impl Route {
    fn as_str(&self) -> &str {
        match self {
            Self::Matched(path) => path.as_str(),
            Self::Resolved(template) => template,
        }
    }
}

impl AccessLog {
    pub fn start(request: &Request) -> Self {
        Self {
            started: Instant::now(),
            method: method_label(request.method()),
            route: match request.extensions().get::<MatchedPath>() {
                Some(path) => Some(Route::Matched(path.clone())),
                None => request
                    .extensions()
                    .get::<ResolvedRoute>()
                    .map(|resolved| Route::Resolved(resolved.template.clone())),
            },
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
        let route = self.route.as_ref().map(Route::as_str);
        let mut ip = IpText::default();
        let client_ip = ip.of(client.ip);
        tracing::info!(
            target: "rampart::access",
            request_id = request_id.as_str(),
            method = self.method,
            route,
            status,
            latency_ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3,
            client_ip,
            user,
            "request"
        );
        let (count, latency) = handles(self.method, route.unwrap_or("unmatched"), status);
        count.increment(1);
        latency.record(elapsed.as_secs_f64());
    }
}

/// An address as text, written on the stack: `%ip` in a log call would
/// allocate a `String` for it on every request.
struct IpText {
    bytes: [u8; 48],
    len: usize,
}

impl Default for IpText {
    fn default() -> Self {
        Self {
            bytes: [0; 48],
            len: 0,
        }
    }
}

impl IpText {
    fn of(&mut self, ip: std::net::IpAddr) -> &str {
        use std::fmt::Write;
        self.len = 0;
        // An IPv6 address is at most 45 characters: it always fits.
        let _ = write!(self, "{ip}");
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl std::fmt::Write for IpText {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        let end = self.len + text.len();
        let room = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        room.copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}

type Handles = (Counter, Histogram);
/// Handles by route template, then by (method, status). foldhash, not
/// std's SipHash: the keys are the server's own route templates, not a
/// client's input, so there is no hash flooding to resist.
type HandleCache = HashMap<
    String,
    HashMap<(&'static str, u16), Handles, foldhash::fast::FixedState>,
    foldhash::fast::FixedState,
>;

thread_local! {
    /// Metric handles by route, then (method, status). Registering a labelled
    /// metric allocates and hashes its labels; the handles are looked up here
    /// instead, per worker thread, so the hot path takes no lock. The map is
    /// bounded by routes x methods x statuses.
    static HANDLES: RefCell<HandleCache> = RefCell::new(HashMap::default());
}

fn handles(method: &'static str, route: &str, status: u16) -> Handles {
    HANDLES.with_borrow_mut(|by_route| {
        if !by_route.contains_key(route) {
            by_route.insert(route.to_owned(), HashMap::default());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_written_as_text_on_the_stack() {
        let mut text = IpText::default();
        assert_eq!(text.of("198.51.100.7".parse().unwrap()), "198.51.100.7");
        let longest: std::net::IpAddr = "1111:2222:3333:4444:5555:6666:7777:8888".parse().unwrap();
        assert_eq!(text.of(longest).parse::<std::net::IpAddr>().unwrap(), longest);
        assert_eq!(text.of("2001:db8::1".parse().unwrap()), "2001:db8::1");
    }
}
