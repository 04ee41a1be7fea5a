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
    cell::RefCell,
    fmt,
    fmt::Write as _,
    io,
    net::IpAddr,
    sync::OnceLock,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use super::log_writer::{Flusher, Kind, LogWriter};

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

/// How long a thread's pairing of the monotonic clock with the wall clock
/// serves before both are read anew: a step of the wall clock shows in
/// the log within this, and NTP's slewing (at most 500 ppm) moves the two
/// apart by at most half a millisecond in it.
const REANCHOR: Duration = Duration::from_secs(1);

/// A reading of both clocks, and the text of the second last written.
struct WallClock {
    /// A reading of the monotonic clock.
    anchor: Instant,
    /// The wall-clock time at `anchor`, in nanoseconds since the epoch.
    anchor_nanos: u64,
    /// The second last written on this thread, and its text up to the
    /// milliseconds (`2026-01-02T03:04:05.`): it changes once a second,
    /// lines come thousands of times a second.
    second: u64,
    prefix: [u8; 20],
}

impl WallClock {
    /// Reads the wall clock, and dates the reading back to `at`.
    fn read_at(at: Instant) -> Self {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let since_at = at.elapsed();
        Self {
            anchor: at,
            anchor_nanos: u64::try_from(wall.saturating_sub(since_at).as_nanos()).unwrap_or(u64::MAX),
            second: u64::MAX,
            prefix: [0; 20],
        }
    }
}

thread_local! {
    static WALL_CLOCK: RefCell<WallClock> = RefCell::new(WallClock::read_at(Instant::now()));
}

/// The wall-clock time at `at`, a reading of the monotonic clock taken
/// just before (the access log's, which it takes anyway to time the
/// request), as [`write_time`] writes it. Each reading of a clock costs
/// tens of nanoseconds; the wall clock is read once a second per thread
/// ([`REANCHOR`]), not once a line.
fn time_text(at: Instant) -> [u8; 24] {
    WALL_CLOCK.with_borrow_mut(|clock| {
        let after = match at.checked_duration_since(clock.anchor) {
            Some(after) if after < REANCHOR => after,
            _ => {
                let second = clock.second;
                let prefix = clock.prefix;
                *clock = WallClock {
                    second,
                    prefix,
                    ..WallClock::read_at(at)
                };
                Duration::ZERO
            }
        };
        // Under a second: the nanoseconds fit.
        let nanos = clock.anchor_nanos + after.as_nanos() as u64;
        let second = nanos / 1_000_000_000;
        if clock.second != second {
            let mut text = String::with_capacity(24);
            let whole_second = chrono::DateTime::from_timestamp(i64::try_from(second).unwrap_or(i64::MAX), 0)
                .unwrap_or_default();
            let _ = write_time(&mut text, whole_second);
            clock.prefix.copy_from_slice(&text.as_bytes()[..20]);
            clock.second = second;
        }
        let millis = (nanos / 1_000_000 % 1000) as u16;
        let mut text = [0; 24];
        text[..20].copy_from_slice(&clock.prefix);
        text[20..].copy_from_slice(&[
            b'0' + (millis / 100) as u8,
            b'0' + (millis / 10 % 10) as u8,
            b'0' + (millis % 10) as u8,
            b'Z',
        ]);
        text
    })
}

/// RFC 3339 in UTC with milliseconds, without chrono's format-string parser
/// (which showed in profiles of the request path).
fn write_time(out: &mut impl fmt::Write, now: chrono::DateTime<chrono::Utc>) -> fmt::Result {
    use chrono::{Datelike, Timelike};
    let mut text = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut value: u32| {
        for i in (at..at + width).rev() {
            text[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, now.year().clamp(0, 9999) as u32);
    put(5, 2, now.month());
    put(8, 2, now.day());
    put(11, 2, now.hour());
    put(14, 2, now.minute());
    put(17, 2, now.second());
    put(20, 3, now.timestamp_subsec_millis().min(999));
    out.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
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

/// Writes `text` as a JSON string. serde_json's escaper only writes to
/// `io::Write`; the subscriber's buffer is a `fmt::Write`.
fn write_json_str(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    write_escaped(out, text)?;
    out.write_char('"')
}

/// `text` escaped for the inside of a JSON string.
fn write_escaped(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    // Ids, routes, names and addresses need no escape: one copy.
    if !needs_escape(text) {
        return out.write_str(text);
    }
    let mut start = 0;
    for (i, c) in text.char_indices() {
        let escaped = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        out.write_str(&text[start..i])?;
        if escaped.is_empty() {
            write!(out, "\\u{:04x}", c as u32)?;
        } else {
            out.write_str(escaped)?;
        }
        start = i + c.len_utf8();
    }
    out.write_str(&text[start..])
}

/// Whether `text` holds a character a JSON string must escape. (Folded
/// without stopping early, so the check vectorizes.)
fn needs_escape(text: &str) -> bool {
    !text
        .bytes()
        .fold(true, |plain, b| plain & (b != b'"') & (b != b'\\') & (b >= 0x20))
}

/// Escapes what is formatted through it: a `Debug` or `Display` value goes
/// into the line without a `String` of its own.
struct Escaping<'a, W>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        write_escaped(self.0, text)
    }
}

/// `value`, formatted, as a JSON string.
fn write_json_display(out: &mut impl fmt::Write, value: fmt::Arguments<'_>) -> fmt::Result {
    out.write_char('"')?;
    fmt::write(&mut Escaping(out), value)?;
    out.write_char('"')
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

    #[test]
    fn time_is_rfc3339_with_milliseconds() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05.067Z")
            .unwrap()
            .to_utc();
        let mut out = String::new();
        write_time(&mut out, at).unwrap();
        assert_eq!(out, "2026-01-02T03:04:05.067Z");
    }

    /// Written time of `at`, in milliseconds since the epoch.
    fn written_millis(at: Instant) -> i64 {
        let out = String::from_utf8(time_text(at).to_vec()).unwrap();
        assert_eq!(out.len(), 24, "{out}");
        chrono::DateTime::parse_from_rfc3339(&out)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn the_time_now_is_the_clock_s_to_the_millisecond() {
        // Across a re-reading of the wall clock ([`REANCHOR`]); a
        // millisecond either way for NTP's slewing between readings.
        for _ in 0..3 {
            let before = chrono::Utc::now().timestamp_millis();
            let written = written_millis(Instant::now());
            let after = chrono::Utc::now().timestamp_millis();
            assert!(
                (before - 1..=after + 1).contains(&written),
                "{before} <= {written} <= {after}"
            );
            std::thread::sleep(Duration::from_millis(600));
        }
    }

    #[test]
    fn a_line_bears_the_time_it_was_given_not_the_time_it_is_written() {
        let before = chrono::Utc::now().timestamp_millis();
        let at = Instant::now();
        let after = chrono::Utc::now().timestamp_millis();
        std::thread::sleep(Duration::from_millis(300));
        let written = written_millis(at);
        // Written 300 ms later, the line still says when `at` was read.
        assert!(
            (before - 1..=after + 1).contains(&written),
            "{before} <= {written} <= {after}"
        );
    }

    #[test]
    fn formatted_values_are_escaped_as_they_are_written() {
        let mut out = String::new();
        write_json_display(&mut out, format_args!("{:?}", "a\"b")).unwrap();
        assert_eq!(out, r#""\"a\\\"b\"""#);
        let parsed: String = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed, "\"a\\\"b\"");
    }

    #[test]
    fn strings_are_escaped_as_json() {
        let mut out = String::new();
        write_json_str(&mut out, "a\"b\\c\nd\u{1}é").unwrap();
        assert_eq!(out, r#""a\"b\\c\nd\u0001é""#);
        let parsed: String = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed, "a\"b\\c\nd\u{1}é");
    }
}
