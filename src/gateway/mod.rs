//! Gateway mode (SPEC section 6): rampart in front of APIs that already
//! exist. What the routes admit is forwarded to their upstream with the
//! caller's identity, signed and bound to the request; everything else
//! holds as for rampart's own routes (the envelope runs around the
//! gateway's handler: TLS, CORS, authentication, rate limits, CSRF, the
//! access log and metrics). A proxy that stays in front asks
//! [`forward_auth`] instead, and forwards itself.
//!
//! - [`path`]: only paths already in normal form are matched and forwarded;
//! - [`routing`]: the upstreams ([`target`]) and the route [`table`],
//!   configured then from each upstream's [`openapi`] document, and who may
//!   pass each; built again, whole, at a reload;
//! - [`headers`]: what crosses in headers, each way;
//! - [`proxy`]: the forwarding itself, and [`body`] the bodies it moves;
//! - [`upstream`]: an upstream, and the [`pool`] of connections that reach it;
//! - [`tunnel`]: WebSocket upgrades, relayed under the route's rule;
//! - [`docs`]: the upstreams' operations in rampart's own OpenAPI document.

mod body;
pub mod docs;
pub mod forward_auth;
pub mod headers;
pub mod openapi;
pub mod path;
mod pool;
pub mod proxy;
pub mod routing;
pub mod table;
pub mod target;
mod tunnel;
pub mod upstream;

use std::{sync::Arc, time::Duration};

use arc_swap::ArcSwap;
use http::Method;

pub use self::routing::{GatewayError, route_rates};
use self::routing::{Routing, Signing};
use crate::{
    auth::keyring::KeyRing,
    config::gateway::GatewaySettings,
    http::{
        resolve::{ResolvedRoute, RouteResolver},
        upgrade::Gate,
    },
    ratelimit::tally::Tally,
};

/// The gateway: its routes and upstreams (replaced whole at a reload), and
/// what it keeps across reloads.
pub struct Gateway {
    routing: ArcSwap<Routing>,
    keys: Arc<KeyRing>,
    issuer: String,
    /// The WebSocket upgrade gate (and the audit trail of refusals).
    gate: Gate,
    /// `limits.request_timeout`: a forwarded body arrives within it.
    body_timeout: Duration,
    /// Each client's forwarded requests in flight, at most
    /// `gateway.max_in_flight_per_client` (as it was at start).
    in_flight: Arc<Tally<body::Sender>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("routes", &self.routing.load().table.len())
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Builds the upstreams and the route table (reading each upstream's
    /// OpenAPI document, when configured, for up to 30 s).
    pub async fn build(
        settings: &GatewaySettings,
        keys: Arc<KeyRing>,
        issuer: &str,
        request_timeout: Duration,
        gate: Gate,
    ) -> Result<Self, GatewayError> {
        let signing = Signing {
            keys: &keys,
            issuer,
            request_timeout,
        };
        let routing = Routing::build(settings, &signing, None).await?;
        Ok(Self {
            routing: ArcSwap::from_pointee(routing),
            issuer: issuer.to_owned(),
            keys,
            gate,
            body_timeout: request_timeout,
            in_flight: Tally::new(settings.max_in_flight_per_client.get()),
        })
    }

    /// Builds the routes and upstreams of `settings` (reading the
    /// upstreams' OpenAPI documents), for [`Self::install`].
    pub async fn prepare(&self, settings: &GatewaySettings) -> Result<Routing, GatewayError> {
        let signing = Signing {
            keys: &self.keys,
            issuer: &self.issuer,
            request_timeout: self.body_timeout,
        };
        let current = self.routing.load_full();
        Routing::build(settings, &signing, Some(&current)).await
    }

    /// Puts prepared routes and upstreams in place of the current ones,
    /// whole: a request resolved before keeps the route it found.
    pub fn install(&self, routing: Routing) {
        self.routing.store(Arc::new(routing));
    }

    /// The routes and upstreams now.
    fn routing(&self) -> Arc<Routing> {
        self.routing.load_full()
    }

    /// rampart's OpenAPI document `own` with every upstream operation that
    /// is a route now ([`docs`]), serialized.
    pub fn document(&self, own: &serde_json::Value, own_prefix: &str) -> axum::body::Bytes {
        let routing = self.routing();
        routing
            .merged_docs
            .get_or_init(|| {
                let upstreams: Vec<(&str, &serde_json::Value)> = routing
                    .documents
                    .iter()
                    .map(|(target, document)| (&*target.name, document))
                    .collect();
                let merged = docs::merge(own, own_prefix, &upstreams);
                serde_json::to_vec(&merged).unwrap_or_default().into()
            })
            .clone()
    }
}

impl RouteResolver for Gateway {
    fn resolve(&self, method: &Method, path: &str, host: Option<&str>) -> Option<ResolvedRoute> {
        path::check(path).ok()?;
        let routing = self.routing.load();
        let route = routing.table.find(method, path, host)?;
        Some(ResolvedRoute {
            template: route.label.clone(),
            policy: Some(route.policy),
            deadline: routing.deadline,
            route: route.clone(),
        })
    }
}
