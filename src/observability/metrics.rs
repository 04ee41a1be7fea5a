//! Prometheus metrics: the recorder, and the names every part of rampart
//! records under (one place, so the exposition stays consistent).

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Requests answered, by `method`, `route` (template) and `status`.
pub const HTTP_REQUESTS: &str = "http_requests_total";
/// Request latency in seconds, by `method`, `route` and `status`.
pub const HTTP_REQUEST_DURATION: &str = "http_request_duration_seconds";

/// Audit events that could not be stored (queue full or store failure).
pub const AUDIT_EVENTS_DROPPED: &str = "audit_events_dropped_total";

/// Log lines dropped because stdout did not keep up: access lines and
/// other events, never audit lines (`log_writer`).
pub const LOG_LINES_DROPPED: &str = "log_lines_dropped_total";

/// Requests refused for bad credentials, by `reason`.
pub const AUTH_FAILURES: &str = "auth_failures_total";

/// argon2id verifications at the current parameters, real or against the
/// dummy hash of an unknown user: the same count for both is what keeps
/// timing from telling whether a user exists.
pub const PASSWORD_VERIFICATIONS: &str = "password_verifications_total";

/// Requests refused by a rate limit, by `policy`.
pub const RATE_LIMIT_REFUSALS: &str = "rate_limit_refusals_total";

/// Changes announced by other instances (PostgreSQL `NOTIFY`) and applied
/// at once, ahead of the periodic refresh.
pub const CHANGES_ANNOUNCED: &str = "changes_announced_total";

/// Failed calls to the shared rate-limit store (Redis).
pub const RATE_LIMIT_BACKEND_ERRORS: &str = "rate_limit_backend_errors_total";
/// 1 while the shared rate-limit store (Redis) is unreachable.
pub const RATE_LIMIT_BACKEND_DEGRADED: &str = "rate_limit_backend_degraded";

/// WebSockets open now.
/// Connections closed at accept, by `reason` (`per_client`: the client held
/// `limits.max_connections_per_client` already).
pub const CONNECTIONS_REFUSED: &str = "connections_refused_total";
pub const WEBSOCKETS_OPEN: &str = "websockets_open";
/// WebSocket messages, by `direction` (`in`, `out`).
pub const WEBSOCKET_MESSAGES: &str = "websocket_messages_total";
/// WebSockets closed, by `reason`.
pub const WEBSOCKET_CLOSES: &str = "websocket_closes_total";
/// WebSocket upgrades refused, by `reason`.
pub const WEBSOCKET_REFUSALS: &str = "websocket_refusals_total";

/// Latency buckets (seconds): from 0.5 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the process-wide recorder and returns the handle that renders it.
/// A second call (a second server in one process) reuses the first recorder.
pub fn install() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_REQUEST_DURATION.to_owned()), LATENCY_BUCKETS)
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first, in which
            // case that one keeps receiving the metrics.
            let _ = metrics::set_global_recorder(recorder);
            metrics::describe_counter!(
                LOG_LINES_DROPPED,
                "Log lines (access lines and other events, never audit lines) dropped because stdout did not keep up"
            );
            // Shown from the start, at 0: a scraper tells "none dropped"
            // from "not exported".
            metrics::counter!(LOG_LINES_DROPPED).increment(0);
            handle
        })
        .clone()
}
