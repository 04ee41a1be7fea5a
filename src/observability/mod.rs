//! Logs and metrics: one JSON object per line on stdout, and a Prometheus
//! recorder whose text is served on the admin listener.

pub mod logging;
pub mod metrics;
