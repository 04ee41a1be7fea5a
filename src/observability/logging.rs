//! JSON log lines on stdout.
//!
//! `tracing-subscriber`'s own JSON format nests fields and calls the time
//! `timestamp`; the contract (SPEC section 3, "Logging") names the fields of a
//! request line at the top level (`time`, `request_id`, `method`, ...), so the
//! event formatter here is ours. It writes straight into the subscriber's
//! line buffer, without building a map: a request line is on the hot path.
//! Only fields that call sites pass explicitly are written: nothing reaches a
//! log line by accident, which is how passwords, tokens, cookies and
//! `Authorization` headers stay out of logs.

use std::{
    fmt,
    fmt::Write as _,
    io,
    net::IpAddr,
    sync::OnceLock,
    time::{Duration, Instant},
};

use super::{
    json_text::{needs_escape, write_escaped, write_json_display, write_json_str},
    log_writer::{Flusher, Kind, LogWriter},
    wall_clock::time_text,
};

use tracing::{Event, Subscriber, field::Field};
use tracing_subscriber::{
    EnvFilter,
    fmt::{FmtContext, FormatEvent, FormatFields, format::Writer},
    registry::LookupSpan,
};

/// Installs the global subscriber. Keep the flusher alive until the process
/// ends: dropping it writes the lines still buffered.
///
/// Lines are written in batches by a thread of their own
/// ([`super::log_writer`]), so a slow stdout never stalls a request's
/// access line (those are dropped and counted); an audit line waits for
/// room rather than be dropped. The level filter comes from `RUST_LOG` (default `info`).
pub fn init() -> Flusher {
    let (writer, guard) = super::log_writer::spawn(io::stdout());
    let _ = DIRECT.set(writer.clone());
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn,h2=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .event_format(JsonLines)
        .init();
    guard
}

/// Where [`DirectLine`]s go: the subscriber's own writer, set by [`init`].
static DIRECT: OnceLock<LogWriter> = OnceLock::new();

/// One line written field by field straight into the thread's log buffer
/// ([`LogWriter::append`]), bypassing `tracing`'s event path: for the
/// access line, which every request writes. Through `tracing` its fields
/// pass a `ValueSet`, a visitor and a `dyn fmt::Write` buffer, a large share
/// of a `GET /healthz` (`benches/README.md` has the count); written here as
/// bytes, the same line costs a fraction of that. The line is what
/// [`JsonLines`] writes for an event with the same fields. The caller asks
/// `tracing::enabled!` first, so `RUST_LOG` governs these lines as any
/// other. They are the lines dropped when stdout does not keep up
/// ([`Kind::Droppable`]).
pub struct DirectLine<'a> {
    out: &'a mut Vec<u8>,
}

/// What every line of one kind starts with after its time: its level,
/// target and message, escaped once rather than per line.
pub struct LineHead(Box<[u8]>);

impl LineHead {
    pub fn info(target: &str, message: &str) -> Self {
        let mut out = br#"","level":"info","target":"#.to_vec();
        let mut line = DirectLine { out: &mut out };
        line.json_str(target);
        line.out.extend_from_slice(br#","message":"#);
        line.json_str(message);
        Self(out.into())
    }
}

impl DirectLine<'_> {
    /// Writes a line of the time `at` (a reading of the clock just taken)
    /// that starts with `head`, with the fields `fields` adds; nothing when
    /// logging is not installed ([`init`]).
    pub fn write(head: &LineHead, at: Instant, fields: impl FnOnce(&mut DirectLine<'_>)) {
        if let Some(sink) = DIRECT.get() {
            sink.append(Kind::Droppable, |out| DirectLine::write_to(out, head, at, fields));
        }
    }

    fn write_to(out: &mut Vec<u8>, head: &LineHead, at: Instant, fields: impl FnOnce(&mut DirectLine<'_>)) {
        out.extend_from_slice(br#"{"time":""#);
        out.extend_from_slice(&time_text(at));
        out.extend_from_slice(&head.0);
        let mut line = DirectLine { out };
        fields(&mut line);
        line.out.extend_from_slice(b"}\n");
    }

    #[inline]
    fn name(&mut self, name: &str) {
        self.out.extend_from_slice(b",\"");
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn json_str(&mut self, text: &str) {
        self.out.push(b'"');
        if needs_escape(text) {
            let _ = write_escaped(&mut Utf8Bytes(self.out), text);
        } else {
            self.out.extend_from_slice(text.as_bytes());
        }
        self.out.push(b'"');
    }

    /// `"name":"value"`, escaped; nothing for `None` (as `tracing` skips
    /// an absent field).
    #[inline]
    pub fn str(&mut self, name: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.name(name);
            self.json_str(value);
        }
    }

    #[inline]
    pub fn u64(&mut self, name: &str, value: u64) {
        self.name(name);
        self.out
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }

    /// A duration in milliseconds, to the microsecond (`0.042`).
    pub fn millis(&mut self, name: &str, value: Duration) {
        self.name(name);
        let micros = value.as_micros();
        self.out
            .extend_from_slice(itoa::Buffer::new().format(micros / 1000).as_bytes());
        let fraction = (micros % 1000) as u16;
        self.out.extend_from_slice(&[
            b'.',
            b'0' + (fraction / 100) as u8,
            b'0' + (fraction / 10 % 10) as u8,
            b'0' + (fraction % 10) as u8,
        ]);
    }

    /// An address as a string; an IPv4 address without the formatter.
    pub fn ip(&mut self, name: &str, value: IpAddr) {
        self.name(name);
        self.out.push(b'"');
        match value {
            IpAddr::V4(v4) => {
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        self.out.push(b'.');
                    }
                    self.out
                        .extend_from_slice(itoa::Buffer::new().format(octet).as_bytes());
                }
            }
            IpAddr::V6(v6) => {
                let _ = write!(Utf8Bytes(self.out), "{v6}");
            }
        }
        self.out.push(b'"');
    }
}

/// A line's bytes, written to as text: what is written is UTF-8, so the
/// line stays UTF-8.
struct Utf8Bytes<'a>(&'a mut Vec<u8>);

impl fmt::Write for Utf8Bytes<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0.extend_from_slice(text.as_bytes());
        Ok(())
    }
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
        writer.write_str(r#"{"time":""#)?;
        writer.write_str(std::str::from_utf8(&time_text(Instant::now())).map_err(|_| fmt::Error)?)?;
        writer.write_str(r#"","level":""#)?;
        writer.write_str(level_name(meta.level()))?;
        writer.write_str(r#"","target":"#)?;
        write_json_str(&mut writer, meta.target())?;
        let mut visitor = FieldWriter {
            out: &mut writer,
            result: Ok(()),
        };
        event.record(&mut visitor);
        visitor.result?;
        writer.write_str("}\n")
    }
}

fn level_name(level: &tracing::Level) -> &'static str {
    match *level {
        tracing::Level::ERROR => "error",
        tracing::Level::WARN => "warn",
        tracing::Level::INFO => "info",
        tracing::Level::DEBUG => "debug",
        tracing::Level::TRACE => "trace",
    }
}

struct FieldWriter<'a, W> {
    out: &'a mut W,
    result: fmt::Result,
}

impl<W: fmt::Write> FieldWriter<'_, W> {
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut W) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = (|| {
                self.out.write_str(",\"")?;
                self.out.write_str(field.name())?;
                self.out.write_str("\":")?;
                value(self.out)
            })();
        }
    }
}

impl<W: fmt::Write> tracing::field::Visit for FieldWriter<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, |out| write_json_str(out, value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |out| out.write_str(itoa::Buffer::new().format(value)));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |out| out.write_str(itoa::Buffer::new().format(value)));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.field(field, |out| {
                out.write_str(ryu::Buffer::new().format_finite(value))
            });
        } else {
            self.field(field, |out| out.write_str("null"));
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |out| write!(out, "{value}"));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.field(field, |out| write_json_display(out, format_args!("{value}")));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, |out| write_json_display(out, format_args!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// An output that keeps what is written to it.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Capture {
        /// The one line written, as JSON, without its time.
        fn line(&self) -> serde_json::Value {
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            assert_eq!(text.matches('\n').count(), 1, "{text}");
            let mut line: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert!(line["time"].as_str().unwrap().ends_with('Z'), "{text}");
            line.as_object_mut().unwrap().remove("time");
            line
        }
    }

    #[test]
    fn a_direct_line_is_the_line_an_event_would_write() {
        let event = Capture::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer({
                let event = event.clone();
                move || event.clone()
            })
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                target: "rampart::access",
                request_id = "a\"b",
                route = Some("/items/{id}"),
                status = 200u64,
                latency_ms = 1.042,
                client_ip = "2001:db8::1",
                ipv4 = "198.51.100.7",
                user = None::<&str>,
                "request"
            );
        });

        let direct = Capture::default();
        DirectLine::write_to(
            &mut direct.0.lock().unwrap(),
            &LineHead::info("rampart::access", "request"),
            Instant::now(),
            |line| {
                line.str("request_id", Some("a\"b"));
                line.str("route", Some("/items/{id}"));
                line.u64("status", 200);
                line.millis("latency_ms", Duration::from_micros(1042));
                line.ip("client_ip", "2001:db8::1".parse().unwrap());
                line.ip("ipv4", "198.51.100.7".parse().unwrap());
                line.str("user", None);
            },
        );

        assert_eq!(direct.line(), event.line());
    }

    #[test]
    fn durations_are_milliseconds_to_the_microsecond() {
        for micros in [0, 7, 999, 1000, 123_456_789] {
            let mut out = Vec::new();
            DirectLine { out: &mut out }
                .millis("ms", Duration::from_micros(micros) + Duration::from_nanos(400));
            let text = String::from_utf8(out).unwrap();
            let (_, value) = text.split_once(':').unwrap();
            assert_eq!(value.parse::<f64>().unwrap(), micros as f64 / 1000.0, "{value}");
        }
    }
}
