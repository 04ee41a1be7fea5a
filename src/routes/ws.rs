//! `GET /ws/items`: the upgrade gate (`http::upgrade`), then the socket's
//! own loop (`realtime::socket`).

use axum::{
    extract::{
        State,
        ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    response::{IntoResponse, Response},
};
use http::HeaderValue;

use crate::{
    http::{
        error::ErrorBody,
        upgrade::{Admitted, Handshake, Needs},
    },
    realtime::socket,
    state::AppState,
};

/// The application subprotocol, selected whenever offered (a browser fails
/// a handshake whose offered subprotocols get no answer).
const PROTOCOL: &str = "rampart.v1";

/// Stream item events as they happen.
///
/// Each message is `{"event":"created|updated|deleted","item":{...}}` for an
/// item the caller may see. Authenticate with `Authorization: Bearer`, the
/// subprotocol `bearer.<token>` beside `rampart.v1` (browsers), or the
/// session cookie (then `Origin` is required).
#[utoipa::path(get, path = "/ws/items", tag = "items", security(("bearer" = [])),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket upgrade", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Origin not allowed", body = ErrorBody),
        (status = 429, description = "Too many open sockets, or the rate limit", body = ErrorBody),
        (status = 503, description = "The instance holds as many sockets as it serves", body = ErrorBody)
    ))]
pub async fn items(
    State(state): State<AppState>,
    handshake: Handshake,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Admitted {
        mut upgrade,
        credential,
        slot,
        idle,
    } = match state.gate().admit(handshake, upgrade, Needs::Caller) {
        Ok(admitted) => admitted,
        Err(refusal) => return refusal.into_response(),
    };
    let credential = credential.expect("the gate admits only callers here");
    let subscriptions = state.sockets.subscribe();
    // Select the application protocol; never echo the token one
    // (Kubernetes' rule: a header echoed is a header logged).
    let offered = upgrade
        .requested_protocols()
        .any(|p| p.as_bytes() == PROTOCOL.as_bytes());
    if offered {
        upgrade.set_selected_protocol(HeaderValue::from_static(PROTOCOL));
    }
    upgrade.on_upgrade(move |socket| async move {
        // From here the heartbeat keeps the connection (SPEC: pings
        // replace `limits.idle_timeout` for sockets).
        if let Some(idle) = idle {
            idle.stop();
        }
        socket::serve(socket, credential, slot, subscriptions).await;
    })
}
