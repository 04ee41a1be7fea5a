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
//! A thread whose buffer is full (stdout stuck) drops lines other than
//! audit lines (access lines, above all) rather than stall a request or
//! grow memory; drops are counted in the metric `log_lines_dropped_total`
//! and reported in the log.
//!
//! Audit lines (security events, target `rampart::audit`) are never
//! dropped (OWASP ASVS 5.0 V16.4: the log of security events is kept
//! whole; SPEC section 11, "Logs"). They have room beyond the limit
//! ([`KEPT_RESERVE`]) that access lines never use, and once that is full
//! too, the thread that logs one waits for the writing thread to collect.
//! Whether a line may be dropped is decided per line kind, by the caller:
//! an access line takes no extra work.

use std::{
    cell::RefCell,
    io::{self, Write},
    sync::{
        Arc, Condvar, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc::{Receiver, sync_channel},
    },
    thread::{self, JoinHandle},
    time::Duration,
};

use super::metrics::LOG_LINES_DROPPED;

/// The most one thread's lines may take while they wait for the next
/// write: beyond it (stdout stuck) lines are dropped.
const THREAD_BYTES: usize = 1024 * 1024;
/// Room beyond [`THREAD_BYTES`] that only lines that must not be dropped
/// take: with stdout slow, a burst of access lines fills a buffer, and the
/// audit lines logged meanwhile still go in without waiting.
const KEPT_RESERVE: usize = 256 * 1024;
/// The longest a line that must not be dropped waits before it looks at
/// its buffer again (a collection wakes it sooner).
const KEPT_RECHECK: Duration = Duration::from_millis(100);
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
    /// How many collections there have been: a line waiting for room
    /// waits for this to move.
    collections: Mutex<u64>,
    collected: Condvar,
    /// The writing thread has ended: nothing will make room any more.
    closed: AtomicBool,
}

impl Shared {
    fn new() -> Self {
        static IDS: AtomicU64 = AtomicU64::new(0);
        Self {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            buffers: Mutex::new(Vec::new()),
            dropped: AtomicU64::new(0),
            collections: Mutex::new(0),
            collected: Condvar::new(),
            closed: AtomicBool::new(false),
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
                shared.closed.store(true, Ordering::Release);
                shared.collected.notify_all();
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
/// let go once empty. Lines waiting for room are woken.
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
    {
        let mut collections = lock(&shared.collections);
        *collections = collections.wrapping_add(1);
        shared.collected.notify_all();
    }
    let lost = shared.dropped.swap(0, Ordering::Relaxed);
    if lost > 0 {
        // Counted here, once a tick, not on the path of the line dropped.
        metrics::counter!(LOG_LINES_DROPPED).increment(lost);
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

/// Whether a line may be dropped when its thread's buffer is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An access line, or any event but an audit event: dropped (and
    /// counted) when stdout does not keep up.
    Droppable,
    /// A security event: never dropped; it waits for room instead.
    Kept,
}

impl LogWriter {
    /// Appends one whole line (ending in `\n`), which `write` writes into
    /// the buffer it is given, to this thread's buffer.
    pub fn append(&self, kind: Kind, write: impl FnOnce(&mut Vec<u8>)) {
        let mut write = Some(write);
        let appended = LOCAL.try_with(|local| {
            let mut local = local.borrow_mut();
            if !matches!(&*local, Some((id, _)) if *id == self.shared.id) {
                *local = Some(self.register());
            }
            let (_, buffer) = local.as_ref().expect("registered above");
            if let Some(write) = write.take() {
                self.append_to(buffer, kind, write);
            }
        });
        if appended.is_err()
            && let Some(write) = write.take()
        {
            // This thread's locals are being torn down (it is ending): a
            // buffer of its own for this last line.
            self.append_to(&self.register().1, kind, write);
        }
    }

    fn append_to(&self, buffer: &Mutex<Vec<u8>>, kind: Kind, write: impl FnOnce(&mut Vec<u8>)) {
        let mut lines = lock(buffer);
        if lines.len() < THREAD_BYTES {
            write(&mut lines);
        } else if kind == Kind::Droppable {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            drop(lines);
            self.append_kept(buffer, write);
        }
    }

    /// Appends a line that must not be dropped to a full buffer: into the
    /// reserve, else once the writing thread has collected. Waiting holds
    /// up the thread that logs, which is the point: a security event is
    /// not lost because stdout is slow.
    #[cold]
    fn append_kept(&self, buffer: &Mutex<Vec<u8>>, write: impl FnOnce(&mut Vec<u8>)) {
        let shared = &self.shared;
        loop {
            // Read before the buffer is looked at: a collection after this
            // moves the count, so the wait below cannot miss it.
            let seen = *lock(&shared.collections);
            let mut lines = lock(buffer);
            // With the writing thread gone the line cannot be written, but
            // it is not thrown away either.
            if lines.len() < THREAD_BYTES + KEPT_RESERVE || shared.closed.load(Ordering::Acquire) {
                write(&mut lines);
                return;
            }
            drop(lines);
            let collections = lock(&shared.collections);
            let _ = shared
                .collected
                .wait_timeout_while(collections, KEPT_RECHECK, |now| *now == seen)
                .unwrap_or_else(PoisonError::into_inner);
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
/// `write`), and whether it may be dropped.
pub struct Line<'a>(&'a LogWriter, Kind);

impl Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.append(self.1, |lines| lines.extend_from_slice(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The target of audit events ([`crate::audit`]): their lines are kept.
pub const AUDIT_TARGET: &str = "rampart::audit";

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line(self, Kind::Droppable)
    }

    /// Events go through `tracing` off the request path (the access line
    /// does not: `logging::DirectLine`); an audit event's line is kept.
    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        let kind = if meta.target() == AUDIT_TARGET {
            Kind::Kept
        } else {
            Kind::Droppable
        };
        Line(self, kind)
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

    /// Appends `line` as an audit event's line would be.
    fn audit_line(writer: &LogWriter, line: &[u8]) {
        writer.append(Kind::Kept, |lines| lines.extend_from_slice(line));
    }

    #[test]
    fn an_audit_line_is_kept_where_an_access_line_is_dropped() {
        let writer = unwritten();
        let line = [b"x".repeat(100 * 1024), b"\n".to_vec()].concat();
        for _ in 0..15 {
            writer.make_writer().write_all(&line).unwrap();
        }
        audit_line(&writer, b"audit 1\n");
        writer.make_writer().write_all(b"access\n").unwrap();
        audit_line(&writer, b"audit 2\n");
        let mut batch = Vec::new();
        collect(&writer.shared, &mut batch);
        let text = String::from_utf8(batch).unwrap();
        assert!(
            text.contains("audit 1\naudit 2\n"),
            "{}",
            &text[text.len() - 300..]
        );
        assert!(!text.contains("access\n"));
        assert!(
            text.ends_with("\"dropped\":5}\n"),
            "{}",
            &text[text.len() - 200..]
        );
    }

    #[test]
    fn the_subscriber_s_audit_events_are_kept_and_its_other_events_are_not() {
        let writer = unwritten();
        let line = [b"x".repeat(100 * 1024), b"\n".to_vec()].concat();
        for _ in 0..11 {
            writer.make_writer().write_all(&line).unwrap();
        }
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: AUDIT_TARGET, action = "login", "audit");
            tracing::info!(target: "rampart::other", "other");
        });
        let mut batch = Vec::new();
        collect(&writer.shared, &mut batch);
        let text = String::from_utf8(batch).unwrap();
        assert!(text.contains("action=\"login\""), "{}", &text[text.len() - 300..]);
        assert!(!text.contains("other"), "{}", &text[text.len() - 300..]);
    }

    #[test]
    fn an_audit_line_waits_for_room_once_the_reserve_is_full() {
        let writer = unwritten();
        let (logged, done) = std::sync::mpsc::channel();
        let logging = {
            let writer = writer.clone();
            thread::spawn(move || {
                let line = [b"x".repeat(100 * 1024), b"\n".to_vec()].concat();
                // Past the limit with access lines, then the reserve
                // filled with audit lines.
                for _ in 0..11 {
                    writer.make_writer().write_all(&line).unwrap();
                }
                for _ in 0..2 {
                    audit_line(&writer, &line);
                }
                logged.send("full").unwrap();
                audit_line(&writer, b"waited\n");
                logged.send("waited").unwrap();
            })
        };
        assert_eq!(done.recv().unwrap(), "full");
        // Not dropped, not appended: it waits (rechecking its buffer).
        assert!(done.recv_timeout(KEPT_RECHECK * 3).is_err(), "did not wait");
        let mut batch = Vec::new();
        collect(&writer.shared, &mut batch);
        assert_eq!(done.recv_timeout(Duration::from_secs(30)).unwrap(), "waited");
        logging.join().unwrap();
        let mut batch = Vec::new();
        collect(&writer.shared, &mut batch);
        assert_eq!(batch, b"waited\n");
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
