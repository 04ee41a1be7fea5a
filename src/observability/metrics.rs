//! Prometheus metrics: the recorder, and the names every part of rampart
//! records under (one place, so the exposition stays consistent), each with
//! the help text of its `# HELP` line: `promtool check metrics` refuses a
//! family without one. The scrape adds the process families every
//! Prometheus client library exports (`process_*`, computed only when
//! scraped) and `rampart_build_info`.

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
/// Sign-ins through an OpenID provider (SPEC section 8), by provider and
/// outcome.
pub const SSO_LOGINS: &str = "sso_logins_total";
/// Second-factor steps (SPEC section 7), by audit event and factor.
pub const SECOND_FACTOR_EVENTS: &str = "second_factor_events_total";

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

/// Connections closed at accept, by `reason` (`per_client`: the client held
/// `limits.max_connections_per_client` already).
pub const CONNECTIONS_REFUSED: &str = "connections_refused_total";
/// WebSockets open now.
pub const WEBSOCKETS_OPEN: &str = "websockets_open";
/// WebSocket messages, by `direction` (`in`, `out`).
pub const WEBSOCKET_MESSAGES: &str = "websocket_messages_total";
/// WebSockets closed, by `reason`.
pub const WEBSOCKET_CLOSES: &str = "websocket_closes_total";
/// WebSocket upgrades refused, by `reason`.
pub const WEBSOCKET_REFUSALS: &str = "websocket_refusals_total";

/// Requests forwarded to each upstream, by the status it (or, failing
/// it, the gateway) answered.
pub const GATEWAY_UPSTREAM_REQUESTS: &str = "gateway_upstream_requests_total";
/// How long each upstream took to send its response headers.
pub const GATEWAY_UPSTREAM_DURATION: &str = "gateway_upstream_duration_seconds";
/// Always 1, labelled with the running `version`: the Prometheus convention
/// for telling which build each instance runs.
pub const BUILD_INFO: &str = "rampart_build_info";

/// Registers every family's help text with the recorder.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, route template and status."
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        Unit::Seconds,
        "HTTP request latency in seconds, by method, route template and status."
    );
    describe_counter!(
        AUDIT_EVENTS_DROPPED,
        "Audit events that could not be stored (queue full or store failure)."
    );
    describe_counter!(AUTH_FAILURES, "Requests refused for bad credentials, by reason.");
    describe_counter!(
        SSO_LOGINS,
        "Sign-ins through an OpenID provider, by provider and outcome (success, or why it failed)."
    );
    describe_counter!(
        SECOND_FACTOR_EVENTS,
        "Second-factor steps (enrolled, removed, passed, failed, recovery code used, reset), by event and factor."
    );
    describe_counter!(
        PASSWORD_VERIFICATIONS,
        "argon2id password verifications at the current parameters, for known and unknown users alike."
    );
    describe_counter!(
        RATE_LIMIT_REFUSALS,
        "Requests refused by a rate limit, by policy."
    );
    describe_counter!(
        CHANGES_ANNOUNCED,
        "Changes announced by other instances and applied ahead of the periodic refresh."
    );
    describe_counter!(
        RATE_LIMIT_BACKEND_ERRORS,
        "Failed calls to the shared rate-limit store."
    );
    describe_gauge!(
        RATE_LIMIT_BACKEND_DEGRADED,
        "1 while the shared rate-limit store is unreachable, else 0."
    );
    describe_counter!(
        CONNECTIONS_REFUSED,
        "Connections closed at accept, by reason (per_client: the client held limits.max_connections_per_client)."
    );
    describe_counter!(
        LOG_LINES_DROPPED,
        "Log lines (access lines and other events, never audit lines) dropped because stdout did not keep up."
    );
    describe_gauge!(WEBSOCKETS_OPEN, "WebSockets open now.");
    describe_counter!(WEBSOCKET_MESSAGES, "WebSocket messages, by direction (in, out).");
    describe_counter!(WEBSOCKET_CLOSES, "WebSockets closed, by reason.");
    describe_counter!(WEBSOCKET_REFUSALS, "WebSocket upgrades refused, by reason.");
    describe_counter!(
        GATEWAY_UPSTREAM_REQUESTS,
        "Requests forwarded to each upstream, by the status answered."
    );
    describe_histogram!(
        GATEWAY_UPSTREAM_DURATION,
        Unit::Seconds,
        "Time until each upstream's response headers."
    );
    describe_gauge!(BUILD_INFO, "Always 1; the version label names the running build.");
}

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
                .set_buckets_for_metric(
                    Matcher::Full(GATEWAY_UPSTREAM_DURATION.to_owned()),
                    LATENCY_BUCKETS,
                )
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first, in which
            // case that one keeps receiving the metrics.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            // Shown from the start, at 0: a scraper tells "none dropped"
            // from "not exported".
            metrics::counter!(LOG_LINES_DROPPED).increment(0);
            handle
        })
        .clone()
}

/// The text of a scrape: the recorder's families, then the process's.
pub fn render(handle: &PrometheusHandle) -> String {
    let mut text = handle.render();
    process::render(&mut text);
    text
}

/// The four `process_*` families of the Prometheus client libraries, read
/// from `/proc/self` when a scrape asks and never per request. Written here
/// rather than through a collector crate: the `metrics` crate's counters
/// hold whole numbers, which would cut CPU time to whole seconds.
#[cfg(target_os = "linux")]
mod process {
    use std::{fmt::Write as _, sync::OnceLock};

    /// Appends the families to `text`; what `/proc` does not answer is left
    /// out rather than guessed.
    pub fn render(text: &mut String) {
        let family = |text: &mut String, name: &str, kind: &str, help: &str, value: f64| {
            let _ = write!(
                text,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n\n"
            );
        };
        if let Some(stat) = Stat::read() {
            family(
                text,
                "process_cpu_seconds_total",
                "counter",
                "Total user and system CPU time spent in seconds.",
                stat.cpu_seconds,
            );
            family(
                text,
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                stat.resident_bytes,
            );
            if let Some(start) = stat.start_time_seconds {
                family(
                    text,
                    "process_start_time_seconds",
                    "gauge",
                    "Start time of the process since unix epoch in seconds.",
                    start,
                );
            }
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            family(
                text,
                "process_open_fds",
                "gauge",
                "Number of open file descriptors.",
                fds.count() as f64,
            );
        }
    }

    /// What `/proc/self/stat` tells (proc(5)).
    struct Stat {
        cpu_seconds: f64,
        resident_bytes: f64,
        start_time_seconds: Option<f64>,
    }

    impl Stat {
        fn read() -> Option<Self> {
            let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
            // The command name (field 2) is in parentheses and may hold
            // spaces or parentheses itself: fields are counted after the
            // last `)`, from field 3 on.
            let fields: Vec<&str> = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect();
            let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
            let ticks = sysconf(libc::_SC_CLK_TCK)?;
            let page = sysconf(libc::_SC_PAGESIZE)?;
            Some(Self {
                cpu_seconds: (field(14)? + field(15)?) / ticks,
                resident_bytes: field(24)? * page,
                start_time_seconds: boot_time()
                    .zip(field(22))
                    .map(|(boot, start)| boot + start / ticks),
            })
        }
    }

    fn sysconf(name: libc::c_int) -> Option<f64> {
        // SAFETY: sysconf reads a system constant and touches no memory.
        let value = unsafe { libc::sysconf(name) };
        (value > 0).then_some(value as f64)
    }

    /// The system's boot time (`btime` in `/proc/stat`), in seconds since
    /// the epoch: read once, it does not change.
    fn boot_time() -> Option<f64> {
        static BOOT: OnceLock<Option<f64>> = OnceLock::new();
        *BOOT.get_or_init(|| {
            let stat = std::fs::read_to_string("/proc/stat").ok()?;
            stat.lines()
                .find_map(|line| line.strip_prefix("btime "))?
                .trim()
                .parse()
                .ok()
        })
    }
}

#[cfg(not(target_os = "linux"))]
mod process {
    pub fn render(_text: &mut String) {}
}
