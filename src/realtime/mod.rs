//! Realtime: `GET /ws/items` streams item events over WebSockets to
//! callers who may see them (SPEC section 3, "WebSocket").
//!
//! The route authenticates and admits the upgrade (`routes::ws`); here is
//! what happens after: the registry of open sockets with its per-user cap
//! and shutdown signal ([`hub`]), and each socket's loop ([`socket`]),
//! which re-checks its credential whenever the invalidation state changes,
//! so a socket lives no longer than what opened it; and the gateway's
//! tunnels to its upstream ([`tunnel`]), under the same rules.

mod heartbeat;
pub mod hub;
pub mod socket;
pub mod tunnel;

pub use hub::{Full, Hub, Slot, Subscriptions};
pub use socket::{Credential, MAX_MESSAGE_BYTES};
