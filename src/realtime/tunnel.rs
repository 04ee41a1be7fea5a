//! A WebSocket tunnelled to a gateway's upstream (SPEC section 6): the
//! client's socket and the upstream's are relayed message by message, so
//! the client's side keeps every rule of `/ws/items` (message size and
//! rate, the heartbeat, a bounded queue for a slow reader) and closes
//! (1008) as soon as the credential that opened it ends, like a socket of
//! rampart's own (OWASP WebSocket Security cheat sheet; what Pomerium
//! #1279 and oauth2-proxy #2996 ask of a gateway).
//!
//! Messages are re-framed, not copied as bytes: that is what lets rampart
//! close the client's side with a close frame of its own between two
//! messages. Control frames stay on their hop (each side answers its own
//! pings); no extension is negotiated with either side.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::{mpsc, oneshot, watch},
    time::Instant,
};
use tokio_tungstenite::{WebSocketStream, tungstenite::Message as UpstreamMessage};

use super::{
    heartbeat::{Beat, Heartbeat},
    hub::{Hub, Slot},
    socket::{
        CLOSE_GRACE, Close, Credential, OUTBOUND_QUEUE, PING_INTERVAL, PONG_TIMEOUT, WRITE_TIMEOUT,
        close_socket, inbound_limit, too_big, write,
    },
};
use crate::observability::metrics::{WEBSOCKET_CLOSES, WEBSOCKET_MESSAGES};

/// The largest message the upstream may send through a tunnel.
pub const MAX_UPSTREAM_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// How a tunnel ends.
enum Ending {
    /// For a reason of the client's side (as a socket of rampart's own).
    Socket(Close),
    /// The upstream closed, with this frame for the client.
    Upstream(Option<CloseFrame>),
}

/// Whether a credential still passes the rule of the route a tunnel was
/// opened on.
pub type Rule = Box<dyn Fn(&Credential) -> bool + Send + Sync>;

/// Re-checks the credential, then the route's rule with what the recheck
/// read: a demoted caller's tunnel to a role-only route closes (SPEC
/// section 11; ASVS 5.0 8.3.2: authorization changes apply at once).
async fn still_admitted(credential: &mut Credential, hub: &Hub, rule: &Rule) -> Result<(), Close> {
    credential.recheck(hub).await?;
    if rule(credential) {
        Ok(())
    } else {
        Err(Close::Forbidden)
    }
}

/// Relays between `client` and `upstream` until either ends or the
/// credential does, or the credential no longer passes `rule`.
/// `changes`: the invalidation state, watched from before the upgrade was
/// answered.
pub async fn relay<U>(
    client: WebSocket,
    upstream: WebSocketStream<U>,
    mut credential: Option<Credential>,
    rule: Rule,
    slot: Slot,
    mut changes: watch::Receiver<u64>,
) where
    U: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let hub = slot.hub().clone();
    let (client_sink, mut client_stream) = client.split();
    let (to_client, queued) = mpsc::channel(OUTBOUND_QUEUE);
    let (close_client, close_requested) = oneshot::channel();
    let client_writer = tokio::spawn(write(client_sink, queued, close_requested));
    let (mut upstream_sink, mut upstream_stream) = upstream.split();
    let (to_upstream, mut upstream_queued) = mpsc::channel::<UpstreamMessage>(OUTBOUND_QUEUE);
    let upstream_writer = tokio::spawn(async move {
        while let Some(message) = upstream_queued.recv().await {
            match tokio::time::timeout(WRITE_TIMEOUT, upstream_sink.send(message)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return,
            }
        }
        // The queue's sender is gone: the tunnel ended; say so upstream.
        let _ = tokio::time::timeout(CLOSE_GRACE, upstream_sink.close()).await;
    });

    let inbound = inbound_limit();
    let mut heartbeat = Heartbeat::new(Instant::now(), PING_INTERVAL, PONG_TIMEOUT);
    let beat = tokio::time::sleep_until(heartbeat.deadline());
    let far = Instant::now() + Duration::from_secs(365 * 86_400);
    let expiry = tokio::time::sleep_until(credential.as_ref().map_or(far, Credential::expires_at));
    tokio::pin!(beat, expiry);
    // What changed between authentication and the subscription counts too.
    let first = match &mut credential {
        Some(credential) => still_admitted(credential, &hub, &rule).await.err(),
        None => None,
    };
    let ending = if let Some(close) = first {
        Ending::Socket(close)
    } else {
        loop {
            tokio::select! {
                biased;
                () = hub.closing.cancelled() => break Ending::Socket(Close::Shutdown),
                changed = changes.changed() => {
                    if changed.is_err() {
                        break Ending::Socket(Close::Shutdown);
                    }
                    if let Some(credential) = &mut credential
                        && let Err(close) = still_admitted(credential, &hub, &rule).await
                    {
                        break Ending::Socket(close);
                    }
                }
                () = &mut expiry => {
                    if let Some(credential) = &mut credential {
                        if let Err(close) = still_admitted(credential, &hub, &rule).await {
                            break Ending::Socket(close);
                        }
                        expiry.as_mut().reset(credential.expires_at().max(Instant::now() + Duration::from_secs(1)));
                    }
                }
                () = &mut beat => {
                    match heartbeat.beat(Instant::now()) {
                        Beat::Ping => {
                            if to_client.try_send(Message::Ping(Default::default())).is_err() {
                                break Ending::Socket(Close::Slow);
                            }
                        }
                        Beat::Dead => break Ending::Socket(Close::NoPong),
                        Beat::Wait => {}
                    }
                    beat.as_mut().reset(heartbeat.deadline());
                }
                received = client_stream.next() => match received {
                    None => break Ending::Socket(Close::Gone),
                    Some(Ok(Message::Close(frame))) => {
                        // The client's close goes upstream as it came.
                        let frame = frame.map(|f| tokio_tungstenite::tungstenite::protocol::CloseFrame {
                            code: f.code.into(),
                            reason: f.reason.as_str().into(),
                        });
                        let _ = to_upstream.try_send(UpstreamMessage::Close(frame));
                        break Ending::Socket(Close::Gone);
                    }
                    Some(Err(err)) => break Ending::Socket(if too_big(err) { Close::TooBig } else { Close::Gone }),
                    Some(Ok(Message::Pong(_))) => heartbeat.pong(),
                    // Text, binary and pings: counted and limited, as on a
                    // socket of rampart's own (each ping costs a pong).
                    Some(Ok(message)) => {
                        metrics::counter!(WEBSOCKET_MESSAGES, "direction" => "in").increment(1);
                        if inbound.check().is_err() {
                            break Ending::Socket(Close::TooMany);
                        }
                        let message = match message {
                            Message::Text(text) => UpstreamMessage::Text(text.as_str().into()),
                            Message::Binary(bytes) => UpstreamMessage::Binary(bytes),
                            _ => continue,
                        };
                        if to_upstream.try_send(message).is_err() {
                            // The upstream does not keep up.
                            break Ending::Socket(Close::Slow);
                        }
                    }
                },
                received = upstream_stream.next() => match received {
                    None | Some(Err(_)) => break Ending::Upstream(Some(CloseFrame {
                        code: 1011,
                        reason: Utf8Bytes::from_static("upstream_gone"),
                    })),
                    Some(Ok(UpstreamMessage::Close(frame))) => {
                        break Ending::Upstream(frame.map(|f| CloseFrame {
                            code: f.code.into(),
                            reason: f.reason.as_str().into(),
                        }));
                    }
                    Some(Ok(message)) => {
                        let message = match message {
                            UpstreamMessage::Text(text) => Message::Text(text.as_str().into()),
                            UpstreamMessage::Binary(bytes) => Message::Binary(bytes),
                            _ => continue,
                        };
                        if to_client.try_send(message).is_err() {
                            break Ending::Socket(Close::Slow);
                        }
                        metrics::counter!(WEBSOCKET_MESSAGES, "direction" => "out").increment(1);
                    }
                },
            }
        }
    };

    let (reason, frame) = match ending {
        Ending::Socket(close) => (close.reason(), close.frame()),
        Ending::Upstream(frame) => ("upstream", frame),
    };
    metrics::counter!(WEBSOCKET_CLOSES, "reason" => reason).increment(1);
    // The upstream's side ends with its writer (a close frame).
    drop(to_upstream);
    close_socket(frame, close_client, client_writer, &mut client_stream).await;
    let _ = tokio::time::timeout(CLOSE_GRACE, upstream_writer).await;
    drop(slot);
}
