//! One open socket: it streams the item events its credential may see,
//! limits what the client sends, pings, and closes as soon as its
//! credential ends (SPEC section 3, "WebSocket"; OWASP WebSocket Security
//! cheat sheet: "close sockets on logout", message limits, heartbeat,
//! backpressure).
//!
//! The loop reads; a writer task of its own writes, fed by a bounded queue.
//! The loop never waits on the network to write, so a client that stops
//! reading cannot delay its own close: when the queue is full the socket
//! closes (1008), and memory never grows with a stuck client.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{
    SinkExt, StreamExt,
    stream::{SplitSink, SplitStream},
};
use governor::{Quota, RateLimiter};
use secrecy::{ExposeSecret, SecretString};
use tokio::{
    sync::{broadcast::error::RecvError, mpsc, oneshot},
    time::Instant,
};

use super::{
    heartbeat::{Beat, Heartbeat},
    hub::{Hub, Slot, Subscriptions},
};
use crate::{
    auth::{Principal, claims::AccessClaims, session::SessionUser},
    items::events::ItemEvent,
    names::Role,
    observability::metrics::{WEBSOCKET_CLOSES, WEBSOCKET_MESSAGES},
    store::{UserState, now_ms},
};

/// Largest message a client may send (OWASP: "typically 64KB or less");
/// larger closes the socket with 1009.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Inbound messages a client may send per second, and in a burst; more
/// closes the socket with 1008.
const INBOUND_PER_SECOND: u32 = 10;
const INBOUND_BURST: u32 = 20;
/// Messages queued for a client that has not read them yet; one more
/// closes the socket with 1008 (Centrifugo closes at 1 MiB queued).
pub(super) const OUTBOUND_QUEUE: usize = 64;
pub(super) const PING_INTERVAL: Duration = Duration::from_secs(25);
pub(super) const PONG_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a close may take to write, and the client's close to arrive,
/// before the connection is dropped.
pub(super) const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// How long one write may wait for a client that does not read.
pub(super) const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What opened the socket, re-checked whenever what this instance knows
/// of tokens, users or sessions changes.
pub enum Credential {
    Bearer {
        /// Verified again as a request's would be.
        token: SecretString,
        claims: Arc<AccessClaims>,
    },
    Session {
        user: SessionUser,
        /// The user's state when the session was last read: a change
        /// (password, roles, disabling) reads the session again.
        known: UserState,
    },
}

impl Principal for Credential {
    fn username(&self) -> &str {
        match self {
            Self::Bearer { claims, .. } => &claims.sub,
            Self::Session { user, .. } => &user.username,
        }
    }

    fn has_role(&self, role: &str) -> bool {
        match self {
            Self::Bearer { claims, .. } => claims.has_role(role),
            Self::Session { user, .. } => user.roles.iter().any(|r| r == role),
        }
    }
}

impl Credential {
    /// A socket opened by a session; `known` is read now.
    pub fn session(user: SessionUser, hub: &Hub) -> Self {
        let known = hub.invalidations.user_state(&user.username);
        Self::Session { user, known }
    }

    /// When the credential ends unless renewed (sessions are, by use).
    pub(super) fn expires_at(&self) -> Instant {
        let ms = match self {
            Self::Bearer { claims, .. } => claims.exp.saturating_mul(1000),
            Self::Session { user, .. } => user.expires_at,
        };
        let left = u64::try_from(ms - now_ms()).unwrap_or(0);
        Instant::now() + Duration::from_millis(left)
    }

    /// Whether the credential still stands; a session's user and roles are
    /// read again when the user's state changed or its time ran out.
    pub(super) async fn recheck(&mut self, hub: &Hub) -> Result<(), Close> {
        match self {
            Self::Bearer { token, claims } => {
                if claims.exp.saturating_mul(1000) <= now_ms() {
                    return Err(Close::Expired);
                }
                hub.tokens
                    .verify(token.expose_secret())
                    .await
                    .map(|_| ())
                    .map_err(|_| Close::Ended)
            }
            Self::Session { user, known } => {
                if hub.invalidations.session_ended(&user.id.digest()) {
                    return Err(Close::Ended);
                }
                let state = hub.invalidations.user_state(&user.username);
                if state == *known && now_ms() < user.expires_at {
                    return Ok(());
                }
                match hub.sessions.check(user.id.clone()).await {
                    Ok(Some(fresh)) => {
                        *user = fresh;
                        *known = state;
                        Ok(())
                    }
                    Ok(None) => Err(Close::Ended),
                    Err(err) => {
                        // Unknown is not good: the socket may be reopened.
                        tracing::warn!(error = %err, "re-checking a socket's session failed");
                        Err(Close::Unavailable)
                    }
                }
            }
        }
    }

    /// Whether an event is one this credential may see (the object rule,
    /// with the roles as they are now).
    fn may_see(&self, event: &ItemEvent) -> bool {
        self.has_role(Role::ADMIN) || event.owner.eq_ignore_ascii_case(self.username())
    }
}

/// Why a socket closes, and what the client is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Close {
    /// The client closed or the connection broke: nothing to send.
    Gone,
    /// The instance is shutting down.
    Shutdown,
    /// The credential was revoked, its user disabled or their password
    /// changed, or the session ended.
    Ended,
    /// The token's `exp` passed.
    Expired,
    /// The credential could not be re-checked.
    Unavailable,
    /// The credential stands, but no longer passes the rule of the route
    /// the socket was opened on (a tunnel's; its user's roles changed).
    Forbidden,
    TooBig,
    TooMany,
    /// The client does not read what it is sent.
    Slow,
    /// No pong in time.
    NoPong,
}

impl Close {
    pub(super) fn reason(self) -> &'static str {
        match self {
            Self::Gone => "client",
            Self::Shutdown => "shutdown",
            Self::Ended => "credential_ended",
            Self::Expired => "credential_expired",
            Self::Unavailable => "unavailable",
            Self::Forbidden => "access_denied",
            Self::TooBig => "message_too_big",
            Self::TooMany => "too_many_messages",
            Self::Slow => "slow_consumer",
            Self::NoPong => "no_pong",
        }
    }

    /// The close frame (RFC 6455 section 7.4.1), if one is sent.
    pub(super) fn frame(self) -> Option<CloseFrame> {
        let code = match self {
            Self::Gone => return None,
            // 1001: going away.
            Self::Shutdown | Self::NoPong => 1001,
            // 1008: policy violation.
            Self::Ended | Self::Expired | Self::Forbidden | Self::TooMany | Self::Slow => 1008,
            // 1009: message too big.
            Self::TooBig => 1009,
            // 1011: the server could not go on.
            Self::Unavailable => 1011,
        };
        Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(self.reason()),
        })
    }
}

/// Serves a socket until it closes. `subscriptions` were taken before the
/// upgrade was answered.
pub async fn serve(socket: WebSocket, mut credential: Credential, slot: Slot, subscriptions: Subscriptions) {
    let hub = slot.hub().clone();
    let (sink, mut stream) = socket.split();
    let (queue, queued) = mpsc::channel(OUTBOUND_QUEUE);
    let (close, close_requested) = oneshot::channel();
    let writer = tokio::spawn(write(sink, queued, close_requested));

    // What changed between authentication and the subscriptions counts too.
    let ended = match credential.recheck(&hub).await {
        Err(close) => close,
        Ok(()) => pump(&hub, &mut credential, subscriptions, &mut stream, &queue).await,
    };

    metrics::counter!(WEBSOCKET_CLOSES, "reason" => ended.reason()).increment(1);
    close_socket(ended.frame(), close, writer, &mut stream).await;
    drop(slot);
}

/// Ends the client's side: `frame` (if any) through the writer, then the
/// client's own close, each within [`CLOSE_GRACE`]; then the writer.
pub(super) async fn close_socket(
    frame: Option<CloseFrame>,
    close: oneshot::Sender<CloseFrame>,
    mut writer: tokio::task::JoinHandle<()>,
    stream: &mut SplitStream<WebSocket>,
) {
    if let Some(frame) = frame {
        let _ = close.send(frame);
        // The writer sends the close frame; the client answers with its
        // own, which ends the stream. Either may not come.
        let drained = async {
            let _ = (&mut writer).await;
            while stream.next().await.is_some() {}
        };
        let _ = tokio::time::timeout(CLOSE_GRACE * 2, drained).await;
    }
    writer.abort();
}

/// The limit on what a client sends: [`INBOUND_PER_SECOND`] messages a
/// second, in bursts of [`INBOUND_BURST`].
pub(super) fn inbound_limit() -> governor::DefaultDirectRateLimiter {
    RateLimiter::direct(
        Quota::per_second(NonZeroU32::new(INBOUND_PER_SECOND).expect("non-zero"))
            .allow_burst(NonZeroU32::new(INBOUND_BURST).expect("non-zero")),
    )
}

/// The socket's life: events out, messages in, pings, and the credential
/// re-checked when something changed or its time ran out. Returns why it
/// ends.
async fn pump(
    hub: &Hub,
    credential: &mut Credential,
    Subscriptions {
        mut events,
        mut changes,
    }: Subscriptions,
    stream: &mut SplitStream<WebSocket>,
    queue: &mpsc::Sender<Message>,
) -> Close {
    let inbound = inbound_limit();
    let mut heartbeat = Heartbeat::new(Instant::now(), PING_INTERVAL, PONG_TIMEOUT);
    let beat = tokio::time::sleep_until(heartbeat.deadline());
    let expiry = tokio::time::sleep_until(credential.expires_at());
    tokio::pin!(beat, expiry);
    loop {
        tokio::select! {
            // Closing comes first: a revoked credential sees no more events.
            biased;
            () = hub.closing.cancelled() => return Close::Shutdown,
            changed = changes.changed() => {
                if changed.is_err() {
                    return Close::Shutdown;
                }
                if let Err(close) = credential.recheck(hub).await {
                    return close;
                }
            }
            () = &mut expiry => {
                if let Err(close) = credential.recheck(hub).await {
                    return close;
                }
                // A session in use elsewhere lives on; look again then.
                expiry.as_mut().reset(credential.expires_at().max(Instant::now() + Duration::from_secs(1)));
            }
            () = &mut beat => {
                match heartbeat.beat(Instant::now()) {
                    Beat::Ping => {
                        if queue.try_send(Message::Ping(Default::default())).is_err() {
                            return Close::Slow;
                        }
                    }
                    Beat::Dead => return Close::NoPong,
                    Beat::Wait => {}
                }
                beat.as_mut().reset(heartbeat.deadline());
            }
            received = stream.next() => match received {
                None | Some(Ok(Message::Close(_))) => return Close::Gone,
                Some(Err(err)) => return if too_big(err) { Close::TooBig } else { Close::Gone },
                // The beat timer fires early now and moves to the next ping.
                Some(Ok(Message::Pong(_))) => heartbeat.pong(),
                // Text, binary and pings: counted and limited; the protocol
                // has no client messages, so their content is ignored.
                Some(Ok(_)) => {
                    metrics::counter!(WEBSOCKET_MESSAGES, "direction" => "in").increment(1);
                    if inbound.check().is_err() {
                        return Close::TooMany;
                    }
                }
            },
            event = events.recv() => match event {
                Ok(event) if credential.may_see(&event) => {
                    let Ok(text) = Utf8Bytes::try_from(event.message.clone()) else {
                        continue;
                    };
                    if queue.try_send(Message::Text(text)).is_err() {
                        return Close::Slow;
                    }
                    metrics::counter!(WEBSOCKET_MESSAGES, "direction" => "out").increment(1);
                }
                Ok(_) => {}
                // Events were missed: the client must reload.
                Err(RecvError::Lagged(_)) => return Close::Slow,
                Err(RecvError::Closed) => return Close::Shutdown,
            },
        }
    }
}

/// Writes what the loop queues, and the close frame when asked.
pub(super) async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut queued: mpsc::Receiver<Message>,
    mut close: oneshot::Receiver<CloseFrame>,
) {
    loop {
        tokio::select! {
            biased;
            frame = &mut close => {
                if let Ok(frame) = frame {
                    let _ = tokio::time::timeout(CLOSE_GRACE, sink.send(Message::Close(Some(frame)))).await;
                }
                return;
            }
            message = queued.recv() => {
                let Some(message) = message else { return };
                match tokio::time::timeout(WRITE_TIMEOUT, sink.send(message)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) | Err(_) => return,
                }
            }
        }
    }
}

/// Whether a read failed because the client sent more than
/// [`MAX_MESSAGE_BYTES`].
pub(super) fn too_big(err: axum::Error) -> bool {
    err.into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|err| matches!(err, tungstenite::Error::Capacity(_)))
}
