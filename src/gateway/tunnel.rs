//! A WebSocket upgrade a gateway route admits: through the gate of
//! `/ws/items`, then the upstream's own upgrade, then the relay between the
//! two (`realtime::tunnel`), which keeps to the route's rule as long as it
//! lives.

use axum::{
    body::Body,
    extract::{FromRequestParts, Request, ws::WebSocketUpgrade},
    response::{IntoResponse, Response},
};
use http::{StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::protocol::{Role, WebSocketConfig},
};

use super::{
    Gateway, headers,
    proxy::{bad_gateway, relayed},
    table::{self, Route, Verdict},
    target::Target,
    upstream::root_cause,
};
use crate::{
    config::gateway::Access,
    http::{
        credentials::CurrentUser,
        upgrade::{Admitted, Handshake, Needs},
    },
    realtime::{
        Credential,
        tunnel::{self, MAX_UPSTREAM_MESSAGE_BYTES},
    },
};

impl Gateway {
    /// A WebSocket upgrade: through the gate like `/ws/items`, then the
    /// upstream's own upgrade, then the tunnel between the two.
    pub(super) async fn tunnel(
        &self,
        request: Request,
        route: &Route,
        target: &Target,
        user: Option<&CurrentUser>,
    ) -> Response {
        let (mut parts, _) = request.into_parts();
        let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &()).await;
        let handshake = match Handshake::from_request_parts(&mut parts, &()).await {
            Ok(handshake) => handshake,
            Err(rejection) => return rejection.into_response(),
        };
        let needs = if route.access == Access::Public {
            Needs::Anyone
        } else {
            Needs::Caller
        };
        let Admitted {
            mut upgrade,
            credential,
            slot,
            idle,
        } = match self.gate.admit(handshake, upgrade, needs) {
            Ok(admitted) => admitted,
            Err(refusal) => return refusal.into_response(),
        };
        // Watched before either side is answered: nothing that ends the
        // credential from here on is missed.
        let changes = self.gate.sockets.watch_changes();
        let mut upstream_request = match Self::upstream_request(target, &parts, user, Body::empty()) {
            Ok(request) => request,
            Err(status) => return status.into_response(),
        };
        headers::upgrade(upstream_request.headers_mut(), &parts.headers);
        let (response, lease, permit) = match Self::exchange(target, upstream_request).await {
            Ok(answer) => answer,
            Err(refusal) => return refusal,
        };
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            // The upstream refused the upgrade: its answer, as any other.
            return relayed(response, lease, (permit, None));
        }
        // The connection is the tunnel's now: hyper closes its pooled side.
        drop(lease);
        let selected = response.headers().get(header::SEC_WEBSOCKET_PROTOCOL).cloned();
        let upgraded = match hyper::upgrade::on(response).await {
            Ok(upgraded) => upgraded,
            Err(err) => {
                tracing::warn!(error = %root_cause(&err), "the upstream's WebSocket upgrade failed");
                return bad_gateway();
            }
        };
        if let Some(selected) = selected {
            upgrade.set_selected_protocol(selected);
        }
        let access = route.access.clone();
        let rule: tunnel::Rule = Box::new(move |credential: &Credential| {
            table::admits(&access, Some(credential)) == Verdict::Pass
        });
        upgrade.on_upgrade(move |socket| async move {
            if let Some(idle) = idle {
                idle.stop();
            }
            let mut config = WebSocketConfig::default();
            config.max_message_size = Some(MAX_UPSTREAM_MESSAGE_BYTES);
            config.max_frame_size = Some(MAX_UPSTREAM_MESSAGE_BYTES);
            let upstream =
                WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, Some(config)).await;
            tunnel::relay(socket, upstream, credential, rule, slot, changes).await;
            drop(permit);
        })
    }
}
