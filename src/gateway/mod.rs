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
//! - [`proxy`]: the forwarding itself, and [`body`] the bodies it moves;
//! - [`upstream`]: hyper-util's pooled client that reaches the upstream;
//! - [`tunnel`]: WebSocket upgrades, relayed under the route's rule.

mod body;
pub mod headers;
pub mod openapi;
pub mod path;
pub mod proxy;
pub mod table;
mod tunnel;
pub mod upstream;

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
    ratelimit::{PolicyName, tally::Tally},
};

/// How long the upstream's OpenAPI document is waited for at start.
const OPENAPI_PATIENCE: Duration = Duration::from_secs(30);

/// Why the gateway cannot start: one sentence.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GatewayError(String);

/// Each configured route's own rate-limit policy (`rate_limit`), if it has
/// one: [`PolicyName::Route`] `0..`, in the routes' order.
fn own_policies(settings: &GatewaySettings) -> impl Iterator<Item = Option<(PolicyName, RatePolicy)>> {
    let mut numbered = 0u16;
    settings.routes.iter().map(move |route| {
        let rate = route.rate_limit?;
        numbered += 1;
        Some((PolicyName::Route(numbered - 1), rate))
    })
}

/// The rates of [`PolicyName::Route`] `0..`, for the rate limits.
pub fn route_rates(settings: &GatewaySettings) -> Vec<RatePolicy> {
    own_policies(settings).flatten().map(|(_, rate)| rate).collect()
}

/// The gateway: its routes, its client and what it signs with.
pub struct Gateway {
    table: table::Table,
    upstream: upstream::Upstream,
    assertions: Assertions,
    /// `gateway.timeout`.
    timeout: Duration,
    /// The WebSocket upgrade gate (and the audit trail of refusals).
    gate: Gate,
    /// The envelope's bound for a forwarded request: its own steps, then
    /// the upstream's time.
    deadline: Duration,
    /// `limits.request_timeout`: a forwarded body arrives within it.
    body_timeout: Duration,
    /// Each client's forwarded requests in flight, at most
    /// `gateway.max_in_flight_per_client`.
    in_flight: Arc<Tally<body::Sender>>,
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
        let upstream = upstream::Upstream::new(&settings.upstream)
            .map_err(|err| GatewayError(format!("gateway.upstream: {err}")))?;
        let mut routes = Vec::new();
        for (route, own) in settings.routes.iter().zip(own_policies(settings)) {
            if let Some(bad) = unholdable_role(&route.access) {
                return Err(GatewayError(format!(
                    "gateway.routes path {}: `{bad}` is not a role name (a lower-case letter, then letters, digits, _ or -)",
                    route.path
                )));
            }
            let policy = own.map_or(PolicyName::Default, |(name, _)| name);
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
                if let Some(bad) = unholdable_role(&route.access) {
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
            body_timeout: request_timeout,
            in_flight: Tally::new(settings.max_in_flight_per_client.get()),
        })
    }
}

/// A role the rule names that no user can hold (not a role name), if any.
fn unholdable_role(access: &Access) -> Option<&str> {
    let Access::Roles(sets) = access else {
        return None;
    };
    sets.iter()
        .flatten()
        .map(String::as_str)
        .find(|role| crate::names::Role::parse(role).is_err())
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

#[cfg(test)]
mod tests {
    use figment::{
        Figment,
        providers::{Format, Toml},
    };

    use super::*;

    #[test]
    fn routes_with_a_rate_of_their_own_are_numbered_in_order() {
        let settings: GatewaySettings = Figment::from(Toml::string(
            r#"
            upstream = "http://127.0.0.1:8001"
            [[routes]]
            path = "/a"
            access = "public"
            rate_limit = "5/minute"
            [[routes]]
            path = "/b"
            access = "public"
            [[routes]]
            path = "/c"
            access = "public"
            rate_limit = "7/hour"
            "#,
        ))
        .extract()
        .unwrap();
        let names: Vec<_> = own_policies(&settings)
            .map(|own| own.map(|(name, _)| name))
            .collect();
        assert_eq!(
            names,
            [Some(PolicyName::Route(0)), None, Some(PolicyName::Route(1))]
        );
        let rates = route_rates(&settings);
        assert_eq!(rates, ["5/minute".parse().unwrap(), "7/hour".parse().unwrap()]);
    }

    #[test]
    fn roles_nobody_can_hold_are_found() {
        let roles = |sets: &[&[&str]]| {
            Access::Roles(
                sets.iter()
                    .map(|s| s.iter().map(|r| (*r).to_owned()).collect())
                    .collect(),
            )
        };
        assert_eq!(unholdable_role(&roles(&[&["admin"], &["ops"]])), None);
        assert_eq!(
            unholdable_role(&roles(&[&["admin", "items:read"]])),
            Some("items:read")
        );
        assert_eq!(unholdable_role(&Access::Authenticated), None);
    }
}
