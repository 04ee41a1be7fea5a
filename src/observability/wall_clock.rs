//! The wall-clock time of a log line, as RFC 3339 with milliseconds, at
//! the cost of a monotonic reading: each thread pairs the two clocks once a
//! second and formats the second once, for the thousands of lines it writes
//! in it.

use std::{
    cell::RefCell,
    fmt,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

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
pub(super) fn time_text(at: Instant) -> [u8; 24] {
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
pub(super) fn write_time(out: &mut impl fmt::Write, now: chrono::DateTime<chrono::Utc>) -> fmt::Result {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
