//! JSON log lines on stdout.
//!
//! `tracing-subscriber`'s own JSON format nests fields and calls the time
//! `timestamp`; the contract (SPEC section 3, "Logging") names the fields of a
//! request line at the top level (`time`, `request_id`, `method`, ...), so the
//! event formatter here is ours. Only fields that call sites pass explicitly
//! are written: nothing reaches a log line by accident, which is how
//! passwords, tokens, cookies and `Authorization` headers stay out of logs.

use std::{fmt, io};

use serde_json::{Map, Value};
use tracing::{Event, Subscriber, field::Field};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::{
    EnvFilter,
    fmt::{FmtContext, FormatEvent, FormatFields, format::Writer},
    registry::LookupSpan,
};

/// Installs the global subscriber. Keep the guard alive until the process
/// ends: dropping it flushes the lines still queued.
///
/// Lines are written by a background thread so a slow stdout never stalls a
/// request; if 128k lines are queued, further lines are dropped rather than
/// blocking the workers. The level filter comes from `RUST_LOG` (default
/// `info`).
pub fn init() -> WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking(io::stdout());
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn,h2=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .event_format(JsonLines)
        .init();
    guard
}

/// Formats an event as `{"time":..,"level":..,"target":..,"message":..,<fields>}`.
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Map::with_capacity(12);
        fields.insert(
            "time".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                .into(),
        );
        fields.insert("level".into(), meta.level().as_str().to_ascii_lowercase().into());
        fields.insert("target".into(), meta.target().into());
        event.record(&mut FieldVisitor(&mut fields));
        let line = serde_json::to_string(&Value::Object(fields)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{line}")
    }
}

struct FieldVisitor<'a>(&'a mut Map<String, Value>);

impl tracing::field::Visit for FieldVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }
}
