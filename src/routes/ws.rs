//! `GET /ws/items`: the upgrade gate. Everything is decided before a byte
//! of the stream (ASVS 5.0 4.4): the `Origin` (a foreign one is 403), the
//! credentials (none or bad: 401; the envelope authenticated them, reading
//! the token subprotocol too), the socket cap (429). Then the upgrade, with
//! the limits set explicitly (tungstenite's defaults allow 64 MiB messages
//! and an unbounded write buffer), and the socket's own loop
//! (`realtime::socket`).

use axum::{
    Extension,
    extract::{
        FromRequestParts, State,
        ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderValue, Uri};
use secrecy::SecretString;

use crate::{
    audit::{Action, Origin, Outcome},
    auth::Principal,
    http::{
        client::{ClientInfo, authority},
        csrf::OriginStanding,
        error::{ApiError, ErrorBody},
        identity::{self, Authentication, ProtocolToken},
    },
    observability::metrics::WEBSOCKET_REFUSALS,
    realtime::{Credential, Full, MAX_MESSAGE_BYTES, socket},
    server::Connection,
    state::AppState,
};

/// The application subprotocol, selected whenever offered (a browser fails
/// a handshake whose offered subprotocols get no answer).
const PROTOCOL: &str = "rampart.v1";
const READ_BUFFER_BYTES: usize = 8 * 1024;
const WRITE_BUFFER_BYTES: usize = 8 * 1024;
/// What the server may buffer for a client beyond the socket's queue.
const MAX_WRITE_BUFFER_BYTES: usize = 1024 * 1024;

/// What the gate reads of the upgrade request.
#[derive(FromRequestParts)]
pub struct Handshake {
    client: Extension<ClientInfo>,
    authentication: Extension<Authentication>,
    /// The connection, whose idle clock stops once upgraded.
    connection: Option<Extension<Connection>>,
    origin: Origin,
    uri: Uri,
    headers: HeaderMap,
}

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
    Handshake {
        client: Extension(client),
        authentication: Extension(authentication),
        connection,
        origin,
        uri,
        headers,
    }: Handshake,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let refuse = |reason: &'static str, user: Option<&str>, error: ApiError| {
        metrics::counter!(WEBSOCKET_REFUSALS, "reason" => reason).increment(1);
        state.audit.record(
            Action::WebSocketRefused,
            Outcome::Denied,
            user,
            Some(reason),
            &origin,
        );
        error.into_response()
    };
    let standing = state
        .csrf
        .origin_standing(&headers, authority(&uri, &headers), client.https);
    if standing == OriginStanding::Foreign {
        return refuse("foreign_origin", None, ApiError::Forbidden("Origin not allowed"));
    }
    let credential = match authentication {
        Authentication::Anonymous => {
            return refuse(
                "no_credentials",
                None,
                ApiError::Unauthorized("Not authenticated"),
            );
        }
        Authentication::Invalid(_) => {
            return refuse(
                "invalid_credentials",
                None,
                ApiError::Unauthorized("Invalid authentication credentials"),
            );
        }
        Authentication::Bearer(claims) => {
            let token = match identity::protocol_token(&headers) {
                ProtocolToken::One(token) => Some(token),
                _ => identity::bearer_token(&headers),
            };
            let Some(token) = token else {
                return ApiError::Unauthorized("Not authenticated").into_response();
            };
            Credential::Bearer {
                token: SecretString::from(token.to_owned()),
                claims,
            }
        }
        Authentication::Session(session) => {
            // A cookie rides along with any page's request: only the own
            // origin, or one named in the allowlist, may open a socket
            // with it (cross-site WebSocket hijacking).
            if !matches!(standing, OriginStanding::Own | OriginStanding::Listed) {
                return refuse(
                    "origin_required",
                    Some(&session.username),
                    ApiError::Forbidden("Origin not allowed"),
                );
            }
            Credential::session(session.as_ref().clone(), &state.sockets)
        }
    };
    let user = Some(credential.username());
    let Ok(mut upgrade) = upgrade else {
        return refuse(
            "not_an_upgrade",
            user,
            ApiError::BadRequest("Expected a WebSocket upgrade"),
        );
    };
    let slot = match state.sockets.admit(credential.username()) {
        Ok(slot) => slot,
        Err(Full::User) => {
            return refuse(
                "too_many_sockets",
                user,
                ApiError::TooMany("Too many open WebSockets"),
            );
        }
        Err(Full::Instance) => {
            return refuse(
                "instance_full",
                user,
                ApiError::Unavailable("Too many open WebSockets"),
            );
        }
    };
    let subscriptions = state.sockets.subscribe();
    // Select the application protocol; never echo the token one
    // (Kubernetes' rule: a header echoed is a header logged).
    let offered = upgrade
        .requested_protocols()
        .any(|p| p.as_bytes() == PROTOCOL.as_bytes());
    if offered {
        upgrade.set_selected_protocol(HeaderValue::from_static(PROTOCOL));
    }
    let timer = connection.map(|Extension(connection)| connection.idle);
    upgrade
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| async move {
            // From here the heartbeat keeps the connection (SPEC: pings
            // replace `limits.idle_timeout` for sockets).
            if let Some(timer) = timer {
                timer.stop();
            }
            socket::serve(socket, credential, slot, subscriptions).await;
        })
}
