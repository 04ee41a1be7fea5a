//! Log lines to stdout, written in batches.
//!
//! tracing-appender's non-blocking writer, which this replaces, wakes its
//! thread for every line under light load: one `write(2)` per request line,
//! and a receive that spins on `sched_yield` before it parks (under a
//! `GET /healthz` flood every `write` and `sched_yield` of the process came
//! from that thread), and its 128,000-slot queue is allocated and touched
//! up front (4 MiB of resident memory). No crate batches lines per thread,
//! so this one is ours.
//!
//! Each thread appends its lines to a buffer of its own, behind a lock
//! only the writing thread ever contends (once a tick), so a line costs
//! no allocation and no hand-over of its own. One thread collects
//! every buffer and writes what it found with one `write` per tick: a line
//! reaches stdout within [`MAX_DELAY`], and nothing that was appended is
//! lost at shutdown (dropping the [`Flusher`] collects once more). Lines of
//! one thread keep their order; lines of different threads written in the
//! same tick may interleave out of time order (each carries its `time`).
//! A thread whose buffer is full (stdout stuck) drops lines rather than
//! stall a request or grow memory; drops are counted and reported in the
//! log.

use std::{
    cell::RefCell,
    io::{self, Write},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc::{Receiver, sync_channel},
    },
    thread::{self, JoinHandle},
    time::Duration,
};

/// The most one thread's lines may take while they wait for the next
/// write: beyond it (stdout stuck) lines are dropped.
const THREAD_BYTES: usize = 1024 * 1024;
/// How often the buffers are collected while lines arrive.
const TICK: Duration = Duration::from_millis(20);
/// The longest a line waits: an idle writer backs off to this.
pub const MAX_DELAY: Duration = Duration::from_millis(200);

/// Appends lines to the calling thread's buffer; `tracing_subscriber`'s
/// `MakeWriter`.
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

/// What the threads that log and the writing thread share.
struct Shared {
    /// Tells the thread-local buffers of two writers apart (tests run
    /// several in one process).
    id: u64,
    /// The buffer of every thread that has logged (a thread that has
    /// ended leaves its buffer here until it is written).
    buffers: Mutex<Vec<Arc<Mutex<Vec<u8>>>>>,
    dropped: AtomicU64,
}

impl Shared {
    fn new() -> Self {
        static IDS: AtomicU64 = AtomicU64::new(0);
        Self {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            buffers: Mutex::new(Vec::new()),
            dropped: AtomicU64::new(0),
        }
    }
}

/// A thread's buffer, and the writer it belongs to.
type Local = Option<(u64, Arc<Mutex<Vec<u8>>>)>;

thread_local! {
    static LOCAL: RefCell<Local> = const { RefCell::new(None) };
}

/// The writing thread. Dropping it writes what is buffered and waits for
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
    let shared = Arc::new(Shared::new());
    let stop = Arc::new(AtomicBool::new(false));
    let (finished, done) = sync_channel(1);
    let thread = thread::Builder::new()
        .name("log-writer".into())
        .spawn({
            let (stop, shared) = (stop.clone(), shared.clone());
            move || {
                write_lines(out, &shared, &stop);
                let _ = finished.send(());
            }
        })
        .expect("the log writer thread starts");
    (
        LogWriter { shared },
        Flusher {
            stop,
            thread: Some(thread),
            done,
        },
    )
}

/// A lock that a panic elsewhere does not poison for good: the buffers
/// hold bytes, which a panic cannot leave half-valid beyond one line.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn write_lines<W: Write>(mut out: W, shared: &Shared, stop: &AtomicBool) {
    let mut batch = Vec::with_capacity(64 * 1024);
    let mut wait = TICK;
    loop {
        // Parked, not spinning: `Flusher::drop` unparks it at once.
        thread::park_timeout(wait);
        let stopping = stop.load(Ordering::Acquire);
        collect(shared, &mut batch);
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

/// Moves every thread's lines into `batch`, and a line saying how many
/// were dropped, if any were. The buffers of threads that have ended are
/// let go once empty.
fn collect(shared: &Shared, batch: &mut Vec<u8>) {
    lock(&shared.buffers).retain(|buffer| {
        let mut lines = lock(buffer);
        batch.extend_from_slice(&lines);
        lines.clear();
        // A burst's room is given back, not kept for good.
        if lines.capacity() > 256 * 1024 {
            lines.shrink_to(16 * 1024);
        }
        Arc::strong_count(buffer) > 1
    });
    let lost = shared.dropped.swap(0, Ordering::Relaxed);
    if lost > 0 {
        batch.extend_from_slice(
            format!(
                "{{\"time\":\"{}\",\"level\":\"warn\",\"target\":\"rampart::log\",\"message\":\"log lines dropped: stdout did not keep up\",\"dropped\":{lost}}}\n",
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            )
            .as_bytes(),
        );
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
    /// Appends one whole line (ending in `\n`), which `write` writes into
    /// the buffer it is given, to this thread's buffer.
    pub fn append(&self, write: impl FnOnce(&mut Vec<u8>)) {
        let mut write = Some(write);
        let appended = LOCAL.try_with(|local| {
            let mut local = local.borrow_mut();
            if !matches!(&*local, Some((id, _)) if *id == self.shared.id) {
                *local = Some(self.register());
            }
            let (_, buffer) = local.as_ref().expect("registered above");
            if let Some(write) = write.take() {
                self.append_to(buffer, write);
            }
        });
        if appended.is_err()
            && let Some(write) = write.take()
        {
            // This thread's locals are being torn down (it is ending): a
            // buffer of its own for this last line.
            self.append_to(&self.register().1, write);
        }
    }

    fn append_to(&self, buffer: &Mutex<Vec<u8>>, write: impl FnOnce(&mut Vec<u8>)) {
        let mut lines = lock(buffer);
        if lines.len() >= THREAD_BYTES {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            write(&mut lines);
        }
    }

    /// A new buffer for the calling thread, which the writing thread
    /// collects from from now on.
    fn register(&self) -> (u64, Arc<Mutex<Vec<u8>>>) {
        let buffer = Arc::new(Mutex::new(Vec::with_capacity(16 * 1024)));
        lock(&self.shared.buffers).push(buffer.clone());
        (self.shared.id, buffer)
    }
}

/// One line, as the subscriber writes it (a whole formatted event per
/// `write`).
pub struct Line<'a>(&'a LogWriter);

impl Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.append(|lines| lines.extend_from_slice(buf));
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

    /// A writer without its thread: the test collects.
    fn unwritten() -> LogWriter {
        LogWriter {
            shared: Arc::new(Shared::new()),
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
    fn a_full_buffer_drops_lines_and_says_how_many() {
        let writer = unwritten();
        let line = [b"x".repeat(100 * 1024), b"\n".to_vec()].concat();
        // Ten fit under the limit, the eleventh crosses it, four are dropped.
        for _ in 0..15 {
            writer.make_writer().write_all(&line).unwrap();
        }
        let mut batch = Vec::new();
        collect(&writer.shared, &mut batch);
        let text = String::from_utf8(batch).unwrap();
        assert_eq!(text.matches(&*String::from_utf8_lossy(&line)).count(), 11);
        assert!(
            text.ends_with("\"dropped\":4}\n"),
            "{}",
            &text[text.len() - 200..]
        );
        // Written, the buffer takes lines again.
        writer.make_writer().write_all(b"again\n").unwrap();
        let mut batch = Vec::new();
        collect(&writer.shared, &mut batch);
        assert_eq!(batch, b"again\n");
    }

    #[test]
    fn lines_of_threads_that_ended_are_written_and_their_buffers_let_go() {
        let writer = unwritten();
        for n in 0..3 {
            let writer = writer.clone();
            thread::spawn(move || {
                writer
                    .make_writer()
                    .write_all(format!("thread {n}\n").as_bytes())
                    .unwrap()
            })
            .join()
            .unwrap();
        }
        writer.make_writer().write_all(b"main\n").unwrap();
        let mut batch = Vec::new();
        collect(&writer.shared, &mut batch);
        let text = String::from_utf8(batch).unwrap();
        for n in 0..3 {
            assert!(text.contains(&format!("thread {n}\n")), "{text}");
        }
        assert!(text.contains("main\n"), "{text}");
        assert_eq!(
            lock(&writer.shared.buffers).len(),
            1,
            "only this thread's buffer stays"
        );
    }
}
