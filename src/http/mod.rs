//! HTTP plumbing shared by every route: the middleware stack, extractors
//! that fail with the spec's errors, and the error model.

pub mod access_log;
pub mod client;
pub mod error;
pub mod extract;
pub mod request_id;
pub mod security_headers;
pub mod validation;

use std::sync::Arc;

use axum::{Router, extract::DefaultBodyLimit, middleware};
use http::StatusCode;
use tower::ServiceBuilder;
use tower_http::{catch_panic::CatchPanicLayer, limit::RequestBodyLimitLayer, timeout::TimeoutLayer};

use crate::config::Settings;

/// HSTS max-age when TLS is terminated by a trusted proxy and `[tls]` is
/// absent: one year, as `tls.hsts_max_age` defaults to.
const DEFAULT_HSTS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(365 * 86_400);

/// Wraps the routes in the middleware stack. The order is the security
/// story, read top (outermost, first to see a request) to bottom:
///
/// 1. request id: every later layer, log line and error body can name it;
/// 2. client: the client IP and transport, resolved once (trusted proxies);
/// 3. access log and metrics: see every response, including the ones below;
/// 4. security headers: on every response, errors included;
/// 5. error bodies: bare error statuses from the layers below get the spec's body;
/// 6. panics: a panicking handler becomes a 500, and the server lives on;
/// 7. time-out: a request running past `limits.request_timeout` is answered 503;
/// 8. body limit: bodies over `limits.max_body_bytes` are refused with 413.
pub fn apply(routes: Router, settings: &Settings) -> Router {
    let proxies = Arc::new(client::TrustedProxies::new(
        settings.proxy.trusted.iter().map(|net| net.0),
    ));
    let hsts = security_headers::Hsts::new(
        settings
            .tls
            .as_ref()
            .map_or(DEFAULT_HSTS_MAX_AGE, |tls| tls.hsts_max_age.get()),
    );
    routes.layer(
        ServiceBuilder::new()
            .layer(middleware::from_fn(request_id::layer))
            .layer(middleware::from_fn_with_state(proxies, client::layer))
            .layer(middleware::from_fn(access_log::layer))
            .layer(middleware::from_fn_with_state(hsts, security_headers::layer))
            .layer(middleware::from_fn(error::fill_body))
            .layer(CatchPanicLayer::custom(error::panic_response))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                settings.limits.request_timeout.get(),
            ))
            .layer(RequestBodyLimitLayer::new(settings.limits.max_body_bytes))
            // The layer above is the one body limit; axum's own default of
            // 2 MiB would otherwise cap a larger configured limit.
            .layer(DefaultBodyLimit::disable()),
    )
}
