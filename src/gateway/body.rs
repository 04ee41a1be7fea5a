//! The bodies a forwarded request moves: the client's, due upstream by a
//! deadline, and the upstream's answer, holding the request's turn until
//! its last byte.

use std::{
    future::Future,
    net::IpAddr,
    pin::Pin,
    task::{Context, Poll},
};

use axum::body::Body;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::OwnedSemaphorePermit;

use super::pool::Lease;
use crate::ratelimit::tally;

/// What a forwarded request holds until its answer's last byte: its turn,
/// and its place among its client's requests in flight.
pub type Turn = (OwnedSemaphorePermit, Option<tally::Held<Sender>>);

pin_project_lite::pin_project! {
    /// The upstream's body, holding its turn and its connection until the
    /// last byte (the connection goes back to the pool then).
    pub struct Held {
        #[pin]
        body: hyper::body::Incoming,
        lease: Option<Lease>,
        _turn: Turn,
    }
}

impl Held {
    pub fn new(body: hyper::body::Incoming, lease: Lease, turn: Turn) -> Self {
        // An empty body (a 204, a HEAD's answer) is never read.
        let lease = (!body.is_end_stream()).then_some(lease);
        Self {
            body,
            lease,
            _turn: turn,
        }
    }
}

impl HttpBody for Held {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let polled = this.body.as_mut().poll_frame(cx);
        // The last byte read: hyper needs nothing more of the connection
        // (a reader that stops at a known length polls no further).
        let done = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => this.body.is_end_stream(),
            Poll::Ready(Some(Err(_))) | Poll::Pending => false,
        };
        if done {
            // Back to the pool now, not when the client's side is done.
            drop(this.lease.take());
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Whose requests in flight a forwarded request counts among.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Sender {
    /// An authenticated caller, by user name (lower case).
    User(String),
    /// An anonymous one, by client address (IPv6: its /64).
    Network(IpAddr),
}

/// A client's body that did not arrive by its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimeout;

pin_project_lite::pin_project! {
    /// The client's body on its way upstream, due by a deadline: past it,
    /// the body fails with [`BodyTimeout`], and hyper aborts the upstream
    /// request. The timer is armed only when the body makes the request
    /// wait, so a body already read costs none.
    pub struct Due {
        #[pin]
        body: Body,
        by: tokio::time::Instant,
        timer: Option<Pin<Box<tokio::time::Sleep>>>,
    }
}

impl Due {
    pub fn new(body: Body, by: tokio::time::Instant) -> Self {
        Self {
            body,
            by,
            timer: None,
        }
    }
}

impl HttpBody for Due {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        if let Poll::Ready(frame) = this.body.poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let by = *this.by;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(by)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
