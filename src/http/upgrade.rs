//! The WebSocket upgrade gate, for `/ws/items` and for the gateway's
//! tunnels alike. Everything is decided before a byte of the stream (ASVS
//! 5.0 4.4): the `Origin` (a foreign one is 403), the credentials (none or
//! bad: 401; the envelope authenticated them, reading the token subprotocol
//! too), the socket cap (429). A refusal is counted and audited. The
//! upgrade's limits are set explicitly (tungstenite's defaults allow 64 MiB
//! messages and an unbounded write buffer).

use std::sync::Arc;

use axum::extract::{
    FromRequestParts,
    ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
};
use http::{HeaderMap, Uri};
use secrecy::SecretString;

use super::{
    client::authority,
    context::RequestContext,
    credentials::{self, Authentication, ProtocolToken},
    csrf::{CsrfGuard, OriginStanding},
    error::ApiError,
};
use crate::{
    audit::{Action, Auditor, Outcome, Provenance},
    auth::Principal,
    observability::metrics::WEBSOCKET_REFUSALS,
    ratelimit::network,
    realtime::{Credential, Full, Hub, MAX_MESSAGE_BYTES, Slot},
    server::IdleTimer,
};

const READ_BUFFER_BYTES: usize = 8 * 1024;
const WRITE_BUFFER_BYTES: usize = 8 * 1024;
/// What the server may buffer for a client beyond the socket's queue.
const MAX_WRITE_BUFFER_BYTES: usize = 1024 * 1024;

/// What the gate reads of the upgrade request.
#[derive(FromRequestParts)]
pub struct Handshake {
    /// The caller, and the connection, whose idle clock stops once
    /// upgraded.
    context: RequestContext,
    provenance: Provenance,
    uri: Uri,
    headers: HeaderMap,
}

/// Who may open a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// An authenticated caller.
    Caller,
    /// Anyone (a public gateway route); a caller's credential still
    /// closes the socket when it ends.
    Anyone,
}

/// What the gate needs, shared.
#[derive(Clone)]
pub struct Gate {
    pub csrf: Arc<CsrfGuard>,
    pub audit: Auditor,
    pub sockets: Arc<Hub>,
}

/// An upgrade the gate let through.
pub struct Admitted {
    /// Limited as SPEC section 3 says.
    pub upgrade: WebSocketUpgrade,
    /// What opened the socket (`None`: an anonymous one).
    pub credential: Option<Credential>,
    pub slot: Slot,
    /// Stop it once upgraded: pings replace `limits.idle_timeout`.
    pub idle: Option<IdleTimer>,
}

impl Gate {
    /// Checks an upgrade request.
    pub fn admit(
        &self,
        Handshake {
            context:
                RequestContext {
                    client,
                    authentication,
                    connection,
                    ..
                },
            provenance,
            uri,
            headers,
        }: Handshake,
        upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
        needs: Needs,
    ) -> Result<Admitted, ApiError> {
        let refuse = |reason: &'static str, user: Option<&str>, error: ApiError| {
            metrics::counter!(WEBSOCKET_REFUSALS, "reason" => reason).increment(1);
            self.audit.record(
                Action::WebSocketRefused,
                Outcome::Denied,
                user,
                Some(reason),
                &provenance,
            );
            error
        };
        let standing = self
            .csrf
            .origin_standing(&headers, authority(&uri, &headers), client.https);
        if standing == OriginStanding::Foreign {
            return Err(refuse(
                "foreign_origin",
                None,
                ApiError::Forbidden("Origin not allowed"),
            ));
        }
        let credential = match authentication {
            Authentication::Anonymous if needs == Needs::Anyone => None,
            Authentication::Anonymous => {
                return Err(refuse(
                    "no_credentials",
                    None,
                    ApiError::Unauthorized("Not authenticated"),
                ));
            }
            Authentication::Invalid(_) => {
                return Err(refuse(
                    "invalid_credentials",
                    None,
                    ApiError::Unauthorized("Invalid authentication credentials"),
                ));
            }
            Authentication::Bearer(claims) => {
                let token = match credentials::protocol_token(&headers) {
                    ProtocolToken::One(token) => Some(token),
                    _ => credentials::bearer_token(&headers),
                };
                let Some(token) = token else {
                    return Err(ApiError::Unauthorized("Not authenticated"));
                };
                Some(Credential::Bearer {
                    token: SecretString::from(token.to_owned()),
                    claims,
                })
            }
            Authentication::Session(session) => {
                // A cookie rides along with any page's request: only the
                // own origin, or one named in the allowlist, may open a
                // socket with it (cross-site WebSocket hijacking).
                if !matches!(standing, OriginStanding::Own | OriginStanding::Listed) {
                    return Err(refuse(
                        "origin_required",
                        Some(&session.username),
                        ApiError::Forbidden("Origin not allowed"),
                    ));
                }
                Some(Credential::session(session.as_ref().clone(), &self.sockets))
            }
        };
        let user = credential.as_ref().map(Credential::username);
        let Ok(upgrade) = upgrade else {
            return Err(refuse(
                "not_an_upgrade",
                user,
                ApiError::BadRequest("Expected a WebSocket upgrade"),
            ));
        };
        // Anonymous sockets count against their client address, an IPv6
        // /64 as one client (SPEC sections 3 and 11).
        let owner = user.map_or_else(|| format!("ip:{}", network(client.ip)), str::to_owned);
        let slot = match self.sockets.admit(&owner) {
            Ok(slot) => slot,
            Err(Full::User) => {
                return Err(refuse(
                    "too_many_sockets",
                    user,
                    ApiError::TooMany("Too many open WebSockets"),
                ));
            }
            Err(Full::Instance) => {
                return Err(refuse(
                    "instance_full",
                    user,
                    ApiError::Unavailable("Too many open WebSockets"),
                ));
            }
        };
        let upgrade = upgrade
            .max_message_size(MAX_MESSAGE_BYTES)
            .max_frame_size(MAX_MESSAGE_BYTES)
            .read_buffer_size(READ_BUFFER_BYTES)
            .write_buffer_size(WRITE_BUFFER_BYTES)
            .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES);
        Ok(Admitted {
            upgrade,
            credential,
            slot,
            idle: connection.map(|connection| connection.idle),
        })
    }
}
