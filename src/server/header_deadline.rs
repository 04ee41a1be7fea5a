//! The deadline hyper puts on reading each request's headers over HTTP/1
//! (slowloris), checked whenever the connection wakes instead of kept in
//! tokio's timer.
//!
//! hyper arms a new timer for every request of a connection
//! (`http1().header_read_timeout`), and tokio registers it in its timer
//! wheel (a lock, an insertion, later a removal) whenever the next request
//! has not already arrived, which on a kept-alive connection is nearly
//! always: about 550 instructions of a 25,000-instruction `GET /healthz`
//! (callgrind). The wheel is not needed for this deadline. A connection's
//! task wakes for every byte that arrives, and its idle clock
//! ([`super::idle`], the one timer a connection keeps) wakes it when none
//! does. So a client that trickles its headers is cut off at its first byte
//! after the deadline, and a silent one by the idle time-out. hyper's
//! HTTP/1 server uses its timer for nothing else. No crate offers such a
//! timer, so it is written here.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use hyper::rt::{Sleep, Timer};

/// A [`Timer`] whose sleeps end when polled at or after their deadline;
/// for `http1().timer` only.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckedOnWake;

impl Timer for CheckedOnWake {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(Deadline(deadline))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<Deadline>() {
            Some(mut deadline) => deadline.0 = new_deadline,
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// Ready once polled at or after its instant. It registers no waker: the
/// connection's IO and idle clock wake the task that polls it.
struct Deadline(Instant);

impl Future for Deadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Sleep for Deadline {}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;

    fn poll(sleep: &mut Pin<Box<dyn Sleep>>) -> Poll<()> {
        sleep.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_sleep_ends_when_polled_at_or_after_its_deadline() {
        let timer = CheckedOnWake;
        let mut past = timer.sleep_until(Instant::now());
        assert!(poll(&mut past).is_ready());
        let mut future = timer.sleep(Duration::from_secs(3600));
        assert!(poll(&mut future).is_pending());
        // Reset to the past, the same sleep ends.
        timer.reset(&mut future, Instant::now() - Duration::from_secs(1));
        assert!(poll(&mut future).is_ready());
        timer.reset(&mut future, Instant::now() + Duration::from_secs(3600));
        assert!(poll(&mut future).is_pending());
    }
}
