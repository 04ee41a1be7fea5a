//! Logs and metrics: one JSON object per line on stdout, and a Prometheus
//! recorder whose text is served on the admin listener.

mod json_text;
pub mod log_writer;
pub mod logging;
pub mod metrics;
mod wall_clock;

use log_writer::Flusher;
use metrics_exporter_prometheus::PrometheusHandle;

/// What observing a running server takes: the log writer (keep the guard
/// for as long as the process logs) and the metrics recorder's handle.
pub struct Observability {
    pub log_guard: Flusher,
    pub metrics: PrometheusHandle,
}

/// Starts logging and metrics, in this one place.
pub fn start() -> Observability {
    Observability {
        log_guard: logging::init(),
        metrics: metrics::install(),
    }
}
