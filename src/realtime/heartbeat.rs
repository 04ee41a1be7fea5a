//! When to ping a socket and when to give up on it: a ping every
//! `interval`, and a socket whose pong does not come within `timeout` of a
//! ping is dead (SPEC section 3, "WebSocket": 25 s and 10 s; Centrifugo
//! uses 25 s and 8 s). Pure, so the policy is tested without a clock.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct Heartbeat {
    interval: Duration,
    timeout: Duration,
    next_ping: Instant,
    /// When the unanswered ping went out.
    awaiting: Option<Instant>,
}

/// What the deadline asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Beat {
    /// Send a ping now.
    Ping,
    /// The last ping went unanswered for the whole time-out.
    Dead,
    /// Nothing yet (the deadline moved).
    Wait,
}

impl Heartbeat {
    pub fn new(now: Instant, interval: Duration, timeout: Duration) -> Self {
        Self {
            interval,
            timeout,
            next_ping: now + interval,
            awaiting: None,
        }
    }

    /// When [`Self::beat`] should next be called.
    pub fn deadline(&self) -> Instant {
        match self.awaiting {
            Some(sent) => sent + self.timeout,
            None => self.next_ping,
        }
    }

    pub fn beat(&mut self, now: Instant) -> Beat {
        if let Some(sent) = self.awaiting {
            return if now >= sent + self.timeout {
                Beat::Dead
            } else {
                Beat::Wait
            };
        }
        if now < self.next_ping {
            return Beat::Wait;
        }
        self.awaiting = Some(now);
        self.next_ping = now + self.interval;
        Beat::Ping
    }

    /// A pong arrived: the socket is alive.
    pub fn pong(&mut self) {
        self.awaiting = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_secs(25);
    const TIMEOUT: Duration = Duration::from_secs(10);

    #[test]
    fn pings_every_interval_while_pongs_come() {
        let start = Instant::now();
        let mut heart = Heartbeat::new(start, INTERVAL, TIMEOUT);
        assert_eq!(heart.deadline(), start + INTERVAL);
        assert_eq!(heart.beat(start + Duration::from_secs(24)), Beat::Wait);
        assert_eq!(heart.beat(start + INTERVAL), Beat::Ping);
        // Waiting for the pong: the deadline is the time-out.
        assert_eq!(heart.deadline(), start + INTERVAL + TIMEOUT);
        heart.pong();
        assert_eq!(heart.deadline(), start + 2 * INTERVAL);
        assert_eq!(heart.beat(start + 2 * INTERVAL), Beat::Ping);
    }

    #[test]
    fn a_ping_without_pong_within_the_timeout_is_death() {
        let start = Instant::now();
        let mut heart = Heartbeat::new(start, INTERVAL, TIMEOUT);
        assert_eq!(heart.beat(start + INTERVAL), Beat::Ping);
        assert_eq!(heart.beat(start + INTERVAL + Duration::from_secs(9)), Beat::Wait);
        assert_eq!(heart.beat(start + INTERVAL + TIMEOUT), Beat::Dead);
    }
}
