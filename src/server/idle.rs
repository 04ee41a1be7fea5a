//! Closes connections that sit idle: a connection that moves no byte in
//! either direction for `limits.idle_timeout` ends with a time-out error.
//!
//! hyper bounds the time to read a request's headers over HTTP/1, but not
//! the wait before an HTTP/2 preface, an HTTP/2 connection left open
//! without streams, a TLS connection that goes silent after its handshake,
//! or a client that stops reading a response. Without a bound, such
//! connections each hold one of `limits.max_connections` permits until
//! the listener accepts nobody (OWASP API4, resource consumption). The IO
//! is wrapped here, below every protocol, so one rule covers them all.
//! Written here because no crate offers an idle time-out for a tokio IO
//! (tokio-io-timeout bounds each read and write, not silence between them).
//!
//! The same clock keeps hyper's HTTP/1 header-read deadline
//! ([`HeadTimer`]): hyper asks its timer for a new deadline for every
//! request's headers and drops it once they are read, and tokio's timer
//! (hyper-util's `TokioTimer`) allocates, registers and removes an entry
//! in its wheel, under the wheel's lock, for each. Here the deadline is a
//! time stamp beside the idle one, which the connection's one timer
//! wakes, re-armed lazily like the idle time-out (what it saves is counted
//! in `benches/README.md`).

use std::{
    io,
    pin::Pin,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, Waker},
    time::Duration,
};

use pin_project_lite::pin_project;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

pin_project! {
    /// `inner`, ended when idle for its time-out.
    pub struct IdleIo<I> {
        #[pin]
        inner: I,
        idle: Idle,
    }
}

/// The idle clock of one connection.
struct Idle {
    // Boxed, so the connection stays `Unpin` as hyper and rustls want.
    // Armed at the earliest of the idle time-out and the header deadline,
    // or earlier: each moves only later, and a timer that fires early is
    // re-armed.
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
    last_activity: Instant,
    clock: Arc<Clock>,
    /// The waker the armed `deadline` wakes, if it is armed: a later wait
    /// of the same task needs no new poll of the timer (which costs a
    /// quarter of what reading a request costs).
    armed_for: Option<Waker>,
}

/// What a connection's idle clock shares with its [`IdleTimer`] and its
/// [`HeadTimer`].
#[derive(Debug, Default)]
struct Clock {
    stopped: AtomicBool,
    head: Mutex<Head>,
}

/// hyper's deadline for the headers it is reading, if it is reading any.
#[derive(Debug, Default)]
struct Head {
    deadline: Option<Instant>,
    /// The idle clock found the deadline passed.
    passed: bool,
}

impl Clock {
    fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    fn head(&self) -> MutexGuard<'_, Head> {
        // A poisoned lock still holds a whole `Head`: two plain fields.
        self.head.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Stops a connection's idle clock: a connection upgraded to a WebSocket
/// is kept alive (or closed) by its own heartbeat instead (SPEC: "Pings
/// replace `limits.idle_timeout` for sockets"). Every request carries the
/// timer of its connection (`server::Connection`).
#[derive(Clone, Debug)]
pub struct IdleTimer(Arc<Clock>);

impl IdleTimer {
    pub fn stop(&self) {
        self.0.stopped.store(true, Ordering::Relaxed);
    }
}

/// hyper's timer for one HTTP/1 connection (`http1().timer`), which hyper
/// uses for nothing but the header-read deadline: the deadline is kept by
/// the connection's idle clock, which wakes the connection when it passes.
/// A sleep it hands out is only ever polled by the task that reads the
/// connection, right after a read that found nothing (hyper's
/// `Conn::poll_read_head`), which is what lets the idle clock's timer wake
/// it.
#[derive(Clone, Debug)]
pub struct HeadTimer(Arc<Clock>);

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    /// tokio's clock, which the idle clock keeps (the same as the
    /// system's, unless a test has paused it).
    fn now(&self) -> std::time::Instant {
        Instant::now().into_std()
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.set(deadline);
        Box::pin(HeadDeadline(self.0.clone()))
    }

    /// Moves the deadline in place. (The trait's own `reset` makes a new
    /// sleep and then drops the old one, whose drop would clear the new
    /// deadline.)
    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: std::time::Instant) {
        if sleep.is::<HeadDeadline>() {
            self.set(new_deadline);
        } else {
            *sleep = self.sleep_until(new_deadline);
        }
    }
}

impl HeadTimer {
    fn set(&self, deadline: std::time::Instant) {
        *self.0.head() = Head {
            deadline: Some(Instant::from_std(deadline)),
            passed: false,
        };
    }
}

/// The headers' deadline as hyper holds it: ready once the idle clock has
/// found it passed; dropped, it is gone (hyper drops it once the headers
/// are read, before it asks for the next).
struct HeadDeadline(Arc<Clock>);

impl Future for HeadDeadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0.head().passed {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl hyper::rt::Sleep for HeadDeadline {}

impl Drop for HeadDeadline {
    fn drop(&mut self) {
        *self.0.head() = Head::default();
    }
}

impl<I> IdleIo<I> {
    pub fn new(inner: I, timeout: Duration) -> Self {
        let now = Instant::now();
        Self {
            inner,
            idle: Idle {
                deadline: Box::pin(tokio::time::sleep_until(now + timeout)),
                timeout,
                last_activity: now,
                clock: Arc::default(),
                armed_for: None,
            },
        }
    }

    /// The switch that stops this connection's idle clock.
    pub fn timer(&self) -> IdleTimer {
        IdleTimer(self.idle.clock.clone())
    }

    /// hyper's timer for this connection's header-read deadline.
    pub fn head_timer(&self) -> HeadTimer {
        HeadTimer(self.idle.clock.clone())
    }
}

impl Idle {
    /// Passes on what the inner IO answered: a result is activity; while
    /// it is pending, the connection fails once it has been idle for the
    /// whole time-out, and hyper's header deadline is marked passed once it
    /// has. Activity only updates a time stamp; the timer is re-armed here,
    /// lazily, when it fires early.
    fn observe<T>(&mut self, polled: Poll<io::Result<T>>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.last_activity = Instant::now();
            return polled;
        }
        if self.clock.stopped() {
            return Poll::Pending;
        }
        let head = {
            let head = self.clock.head();
            head.deadline.filter(|_| !head.passed)
        };
        let mut armed = self
            .armed_for
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()));
        // A header deadline before the armed one (a connection's first):
        // the timer moves up to it.
        if let Some(head) = head
            && head < self.deadline.deadline()
        {
            self.deadline.as_mut().reset(head);
            armed = false;
        }
        if armed && !self.deadline.is_elapsed() {
            return Poll::Pending;
        }
        loop {
            if self.deadline.as_mut().poll(cx).is_pending() {
                if !armed {
                    self.armed_for = Some(cx.waker().clone());
                }
                return Poll::Pending;
            }
            let now = Instant::now();
            let mut due = self.last_activity + self.timeout;
            if now >= due {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "connection idle")));
            }
            match head {
                // hyper, which polls its deadline next, ends the connection.
                Some(head) if now >= head => self.clock.head().passed = true,
                Some(head) => due = due.min(head),
                None => {}
            }
            self.deadline.as_mut().reset(due);
        }
    }
}

impl<I: AsyncRead> AsyncRead for IdleIo<I> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        let polled = this.inner.poll_read(cx, buf);
        this.idle.observe(polled, cx)
    }
}

impl<I: AsyncWrite> AsyncWrite for IdleIo<I> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.project();
        let polled = this.inner.poll_write(cx, buf);
        this.idle.observe(polled, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let polled = this.inner.poll_write_vectored(cx, bufs);
        this.idle.observe(polled, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_times_out_and_an_active_one_does_not() {
        let (client, server) = tokio::io::duplex(64);
        let mut server = Box::pin(IdleIo::new(server, Duration::from_secs(10)));
        let mut client = client;

        // Activity every 6 s keeps it open past the time-out.
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_secs(6)).await;
            client.write_all(b"x").await.unwrap();
            let mut byte = [0u8; 1];
            server.read_exact(&mut byte).await.unwrap();
        }
        // Then silence: the read fails once 10 s have passed.
        let started = Instant::now();
        let mut byte = [0u8; 1];
        let err = server.read_exact(&mut byte).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    /// Reads as hyper's `Conn::poll_read_head` does: whatever has arrived,
    /// then, once nothing more has, polls its header deadline. Ends when
    /// the deadline passes, or with the read's error.
    async fn read_until_passed(
        server: &mut Pin<Box<IdleIo<tokio::io::DuplexStream>>>,
        head: &mut Pin<Box<dyn hyper::rt::Sleep>>,
    ) -> io::Result<()> {
        std::future::poll_fn(|cx| {
            loop {
                let mut buf = [0u8; 16];
                let mut read = ReadBuf::new(&mut buf);
                match server.as_mut().poll_read(cx, &mut read) {
                    Poll::Ready(Ok(())) if read.filled().is_empty() => {
                        return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
                    }
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                    Poll::Pending => return head.as_mut().poll(cx).map(Ok),
                }
            }
        })
        .await
    }

    #[tokio::test(start_paused = true)]
    async fn headers_still_unread_at_their_deadline_end_the_wait() {
        use hyper::rt::Timer;

        let (client, server) = tokio::io::duplex(64);
        let mut server = Box::pin(IdleIo::new(server, Duration::from_secs(60)));
        let timer = server.head_timer();

        // A silent client: the deadline wakes the reader, long before the
        // idle time-out would.
        let started = Instant::now();
        let mut head = timer.sleep(Duration::from_secs(10));
        read_until_passed(&mut server, &mut head).await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(10));

        // Headers read in time: their deadline is dropped, and the next
        // request's counts from when it is asked for.
        drop(head);
        let mut head = timer.sleep(Duration::from_secs(10));
        tokio::time::sleep(Duration::from_secs(4)).await;
        drop(head);
        let asked = Instant::now();
        head = timer.sleep(Duration::from_secs(10));
        read_until_passed(&mut server, &mut head).await.unwrap();
        assert_eq!(asked.elapsed(), Duration::from_secs(10));

        // A deadline reset is moved, not lost.
        let asked = Instant::now();
        timer.reset(&mut head, (asked + Duration::from_secs(5)).into_std());
        read_until_passed(&mut server, &mut head).await.unwrap();
        assert_eq!(asked.elapsed(), Duration::from_secs(5));

        // A client trickling a byte every 3 s keeps the connection from
        // looking idle, but not its headers from running late.
        drop(head);
        let trickle = tokio::spawn(async move {
            let mut client = client;
            loop {
                tokio::time::sleep(Duration::from_secs(3)).await;
                if client.write_all(b"x").await.is_err() {
                    break;
                }
            }
        });
        let asked = Instant::now();
        head = timer.sleep(Duration::from_secs(10));
        read_until_passed(&mut server, &mut head).await.unwrap();
        assert_eq!(asked.elapsed(), Duration::from_secs(10));
        trickle.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_stopped_clock_never_times_out() {
        let (mut client, server) = tokio::io::duplex(64);
        let server = IdleIo::new(server, Duration::from_secs(10));
        server.timer().stop();
        let mut server = Box::pin(server);
        let read = tokio::spawn(async move {
            let mut byte = [0u8; 1];
            server.read_exact(&mut byte).await.map(|_| byte[0])
        });
        tokio::time::sleep(Duration::from_secs(3600)).await;
        client.write_all(b"y").await.unwrap();
        assert_eq!(read.await.unwrap().unwrap(), b'y');
    }
}
