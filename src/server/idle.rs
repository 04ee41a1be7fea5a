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

use std::{
    io,
    pin::Pin,
    sync::{
        Arc,
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
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
    last_activity: Instant,
    stopped: IdleTimer,
    /// The waker the armed `deadline` wakes, if it is armed: a later wait
    /// of the same task needs no new poll of the timer (which costs a
    /// quarter of what reading a request costs).
    armed_for: Option<Waker>,
}

/// Stops a connection's idle clock: a connection upgraded to a WebSocket
/// is kept alive (or closed) by its own heartbeat instead (SPEC: "Pings
/// replace `limits.idle_timeout` for sockets"). Every request carries the
/// timer of its connection (`server::Connection`).
#[derive(Clone, Debug, Default)]
pub struct IdleTimer(Arc<AtomicBool>);

impl IdleTimer {
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
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
                stopped: IdleTimer::default(),
                armed_for: None,
            },
        }
    }

    /// The switch that stops this connection's idle clock.
    pub fn timer(&self) -> IdleTimer {
        self.idle.stopped.clone()
    }
}

impl Idle {
    /// Passes on what the inner IO answered: a result is activity; while
    /// it is pending, the connection fails once it has been idle for the
    /// whole time-out. Activity only updates a time stamp; the timer is
    /// re-armed here, lazily, when it fires early.
    fn observe<T>(&mut self, polled: Poll<io::Result<T>>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.last_activity = Instant::now();
            return polled;
        }
        if self.stopped.stopped() {
            return Poll::Pending;
        }
        let armed = self
            .armed_for
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()));
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
            let due = self.last_activity + self.timeout;
            if Instant::now() >= due {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "connection idle")));
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
