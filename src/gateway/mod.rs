//! Gateway mode (SPEC section 6): rampart in front of an API that already
//! exists. What the routes admit is forwarded to `gateway.upstream` with
//! the caller's identity, signed and bound to the request; everything else
//! holds as for rampart's own routes (the envelope runs around the
//! gateway's handler: TLS, CORS, authentication, rate limits, CSRF, the
//! access log and metrics).
//!
//! - [`path`]: only paths already in normal form are matched and forwarded;
//! - [`table`]: the routes, configured then from the upstream's [`openapi`]
//!   document, and who may pass each;
//! - [`headers`]: what crosses in headers, each way;
//! - [`proxy`]: the forwarding itself, over hyper-util's pooled client.

pub mod headers;
pub mod openapi;
pub mod path;
pub mod proxy;
pub mod table;

use std::{sync::Arc, time::Duration};

use http::Method;

use crate::{
    auth::{assertion::Assertions, keyring::KeyRing},
    config::{
        RatePolicy,
        gateway::{Access, GatewaySettings},
    },
    http::{
        resolve::{ResolvedRoute, RouteResolver},
        upgrade::Gate,
    },
    ratelimit::PolicyName,
};

/// How long the upstream's OpenAPI document is waited for at start.
const OPENAPI_PATIENCE: Duration = Duration::from_secs(30);

/// Why the gateway cannot start: one sentence.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GatewayError(String);

/// The rate-limit policies of the configured routes that have their own
/// (`rate_limit`): their rates, [`PolicyName::Route`] `0..` in order.
pub fn route_rates(settings: &GatewaySettings) -> Vec<RatePolicy> {
    settings
        .routes
        .iter()
        .filter_map(|route| route.rate_limit)
        .collect()
}

/// The gateway: its routes, its client and what it signs with.
pub struct Gateway {
    table: table::Table,
    /// The templates, in the table's order, shared with log lines.
    upstream: proxy::Upstream,
    assertions: Assertions,
    /// `gateway.timeout`.
    timeout: Duration,
    /// The WebSocket upgrade gate (and the audit trail of refusals).
    gate: Gate,
    /// The envelope's bound for a forwarded request: its own steps, then
    /// the upstream's time.
    deadline: Duration,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("routes", &self.table.len())
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Builds the route table (reading the upstream's OpenAPI document,
    /// when configured, for up to 30 s) and the client.
    pub async fn build(
        settings: &GatewaySettings,
        keys: Arc<KeyRing>,
        issuer: &str,
        request_timeout: Duration,
        gate: Gate,
    ) -> Result<Self, GatewayError> {
        let upstream = proxy::Upstream::new(&settings.upstream)
            .map_err(|err| GatewayError(format!("gateway.upstream: {err}")))?;
        let mut routes = Vec::new();
        let mut own = 0u16;
        for route in &settings.routes {
            check_roles(&route.access, &format!("gateway.routes path {}", route.path))?;
            let policy = match route.rate_limit {
                Some(_) => {
                    own += 1;
                    PolicyName::Route(own - 1)
                }
                None => PolicyName::Default,
            };
            routes.push(table::Route::configured(route, policy));
        }
        if let Some(path) = &settings.openapi {
            let document = upstream
                .fetch_json(path.as_str(), OPENAPI_PATIENCE)
                .await
                .map_err(|why| {
                    GatewayError(format!(
                        "gateway.openapi: cannot read {}{}: {why}",
                        settings.upstream.origin(),
                        path.as_str()
                    ))
                })?;
            let documented = openapi::routes(&document).map_err(|why| {
                GatewayError(format!(
                    "gateway.openapi: {}{} is not understood: {why}",
                    settings.upstream.origin(),
                    path.as_str()
                ))
            })?;
            for route in &documented {
                if let Access::Roles(sets) = &route.access
                    && let Some(bad) = sets
                        .iter()
                        .flatten()
                        .find(|r| crate::names::Role::parse(r).is_err())
                {
                    tracing::warn!(
                        route = %route.template,
                        scope = %bad,
                        "an OpenAPI scope is not a valid role name, so no caller holds it: the operation is refused to all"
                    );
                }
            }
            tracing::info!(
                routes = documented.len(),
                "gateway routes read from the upstream's OpenAPI document"
            );
            routes.extend(documented);
        }
        let timeout = settings.timeout.get();
        Ok(Self {
            table: table::Table::new(routes),
            assertions: Assertions::new(
                keys,
                issuer,
                settings.upstream.origin(),
                settings.assertion_ttl.get(),
            ),
            upstream,
            timeout,
            gate,
            deadline: request_timeout + timeout,
        })
    }
}

/// Roles in `[[gateway.routes]]` are role names, or no caller could hold
/// them.
fn check_roles(access: &Access, whose: &str) -> Result<(), GatewayError> {
    if let Access::Roles(sets) = access
        && let Some(bad) = sets
            .iter()
            .flatten()
            .find(|r| crate::names::Role::parse(r).is_err())
    {
        return Err(GatewayError(format!(
            "{whose}: `{bad}` is not a role name (a lower-case letter, then letters, digits, _ or -)"
        )));
    }
    Ok(())
}

impl RouteResolver for Gateway {
    fn resolve(&self, method: &Method, path: &str) -> Option<ResolvedRoute> {
        path::check(path).ok()?;
        let (index, route) = self.table.find(method, path)?;
        Some(ResolvedRoute {
            template: route.label.clone(),
            policy: Some(route.policy),
            deadline: self.deadline,
            index,
        })
    }
}
