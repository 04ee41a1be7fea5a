//! Log lines to stdout, written in batches.
//!
//! tracing-appender's non-blocking writer, which this replaces, wakes its
//! thread for every line under light load: one `write(2)` per request line,
//! and a receive that spins on `sched_yield` before it parks (under a
//! `GET /healthz` flood every `write` and `sched_yield` of the process came
//! from that thread), and its 128,000-slot queue is allocated and touched
//! up front (4 MiB of resident memory). Here a line is handed to a bounded
//! lock-free queue (`std::sync::mpsc::sync_channel`, which never blocks the
//! sender with `try_send`), and one thread drains the queue and writes
//! everything it found with one `write` per tick: a line reaches stdout
//! within [`MAX_DELAY`], and nothing that was accepted is lost at shutdown
//! (dropping the [`Flusher`] drains the queue). A full queue (stdout stuck)
//! drops lines rather than stall a request or grow memory; drops are
//! counted and reported in the log.

use std::{
    io::{self, Write},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc::{Receiver, SyncSender, TrySendError, sync_channel},
    },
    thread::{self, JoinHandle},
    time::Duration,
};

/// Lines that may wait for the next write.
const QUEUE_LINES: usize = 16 * 1024;
/// How often the queue is drained while lines arrive.
const TICK: Duration = Duration::from_millis(20);
/// The longest a line waits: an idle writer backs off to this.
pub const MAX_DELAY: Duration = Duration::from_millis(200);

/// Hands lines to the writing thread; `tracing_subscriber`'s `MakeWriter`.
#[derive(Clone)]
pub struct LogWriter {
    lines: SyncSender<Vec<u8>>,
    dropped: Arc<AtomicU64>,
}

/// The writing thread. Dropping it writes what is queued and waits for
/// that, for at most [`SHUTDOWN_WAIT`]: a stdout nobody reads must not
/// keep the process from exiting.
pub struct Flusher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    done: Receiver<()>,
}

/// The longest shutdown waits for the last lines to be written.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

/// A writer of lines to `out`, and the thread that writes them.
pub fn spawn<W: Write + Send + 'static>(out: W) -> (LogWriter, Flusher) {
    let (lines, queued) = sync_channel(QUEUE_LINES);
    let dropped = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (finished, done) = sync_channel(1);
    let thread = thread::Builder::new()
        .name("log-writer".into())
        .spawn({
            let (stop, dropped) = (stop.clone(), dropped.clone());
            move || {
                write_lines(out, &queued, &stop, &dropped);
                let _ = finished.send(());
            }
        })
        .expect("the log writer thread starts");
    (
        LogWriter { lines, dropped },
        Flusher {
            stop,
            thread: Some(thread),
            done,
        },
    )
}

fn write_lines<W: Write>(mut out: W, queued: &Receiver<Vec<u8>>, stop: &AtomicBool, dropped: &AtomicU64) {
    let mut batch = Vec::with_capacity(64 * 1024);
    let mut wait = TICK;
    loop {
        // Parked, not spinning: `Flusher::drop` unparks it at once.
        thread::park_timeout(wait);
        let stopping = stop.load(Ordering::Acquire);
        while let Ok(line) = queued.try_recv() {
            batch.extend_from_slice(&line);
        }
        let lost = dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            batch.extend_from_slice(
                format!(
                    "{{\"time\":\"{}\",\"level\":\"warn\",\"target\":\"rampart::log\",\"message\":\"log lines dropped: stdout did not keep up\",\"dropped\":{lost}}}\n",
                    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                )
                .as_bytes(),
            );
        }
        if batch.is_empty() {
            // Idle: wake less often, up to the longest a line may wait.
            wait = (wait * 2).min(MAX_DELAY);
        } else {
            // A failed stdout has nowhere to report to; the lines are gone.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
            if batch.capacity() > 1024 * 1024 {
                batch.shrink_to(64 * 1024);
            }
            wait = TICK;
        }
        if stopping {
            return;
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            // Written, or stdout is stuck: then the process exits without
            // the thread (its lines could not have been written anyway).
            if self.done.recv_timeout(SHUTDOWN_WAIT).is_ok() {
                let _ = thread.join();
            }
        }
    }
}

impl LogWriter {
    /// Queues one whole line (ending in `\n`) for the next write.
    pub fn queue(&self, line: Vec<u8>) {
        match self.lines.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // The writer thread is gone (shutdown): nothing to do.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// One line, as the subscriber writes it (a whole formatted event per
/// `write`).
pub struct Line<'a>(&'a LogWriter);

impl Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.queue(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line(self)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// A `Write` that records each `write` call.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_written_in_order_in_few_writes_and_none_is_lost_at_shutdown() {
        let recorder = Recorder::default();
        let (writer, flusher) = spawn(recorder.clone());
        for n in 0..1000 {
            writer
                .make_writer()
                .write_all(format!("line {n}\n").as_bytes())
                .unwrap();
        }
        drop(flusher);
        let writes = recorder.0.lock().unwrap();
        let text: String = writes
            .iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        let expected: String = (0..1000).map(|n| format!("line {n}\n")).collect();
        assert_eq!(text, expected);
        assert!(writes.len() < 10, "{} writes for 1000 lines", writes.len());
    }

    #[test]
    fn a_line_reaches_the_output_without_a_shutdown() {
        let recorder = Recorder::default();
        let (writer, _flusher) = spawn(recorder.clone());
        writer.make_writer().write_all(b"soon\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while recorder.0.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "never written");
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// A `Write` that never returns, as a pipe nobody reads.
    struct Stuck;

    impl Write for Stuck {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            thread::park();
            Ok(0)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stuck_output_does_not_hold_up_shutdown() {
        let (writer, flusher) = spawn(Stuck);
        writer.make_writer().write_all(b"never written\n").unwrap();
        let started = std::time::Instant::now();
        drop(flusher);
        assert!(
            started.elapsed() < SHUTDOWN_WAIT * 10,
            "shutdown waited {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_full_queue_drops_lines_and_says_how_many() {
        let (lines, queued) = sync_channel(2);
        let dropped = Arc::new(AtomicU64::new(0));
        let writer = LogWriter {
            lines,
            dropped: dropped.clone(),
        };
        for _ in 0..5 {
            writer.make_writer().write_all(b"x\n").unwrap();
        }
        assert_eq!(dropped.load(Ordering::Relaxed), 3);
        let recorder = Recorder::default();
        let stop = AtomicBool::new(true);
        write_lines(recorder.clone(), &queued, &stop, &dropped);
        let text = String::from_utf8(recorder.0.lock().unwrap().concat()).unwrap();
        assert!(
            text.starts_with("x\nx\n") && text.contains("\"dropped\":3"),
            "{text}"
        );
    }
}
