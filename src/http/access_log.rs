//! One JSON log line and one metrics sample per request.
//!
//! The line carries the route template, never the raw path or the query
//! string, which may hold tokens (SPEC section 3, "Logging").

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request},
    middleware::Next,
    response::Response,
};
use http::Method;

use super::{client::ClientInfo, request_id::RequestId};
use crate::observability::metrics::{HTTP_REQUEST_DURATION, HTTP_REQUESTS};

/// The user a request was authenticated as, put in the response's
/// extensions by authentication so the log line can name them.
#[derive(Clone, Debug)]
pub struct LoggedUser(pub String);

pub async fn layer(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let request_id = request.extensions().get::<RequestId>().cloned();
    let client_ip = request.extensions().get::<ClientInfo>().map(|c| c.ip);

    let response = next.run(request).await;

    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let user = response.extensions().get::<LoggedUser>().map(|u| u.0.as_str());
    let route_label = route.as_deref().unwrap_or("unmatched");
    tracing::info!(
        target: "rampart::access",
        request_id = request_id.as_ref().map(RequestId::as_str).unwrap_or_default(),
        method,
        route = route.as_deref(),
        status,
        latency_ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3,
        client_ip = client_ip.map(tracing::field::display),
        user,
        "request"
    );
    let labels = [
        ("method", method.to_owned()),
        ("route", route_label.to_owned()),
        ("status", status.to_string()),
    ];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION, &labels).record(elapsed.as_secs_f64());
    response
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
