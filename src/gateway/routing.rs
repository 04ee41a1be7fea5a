//! What the gateway builds from `[gateway]`, and builds again at a reload
//! (SPEC section 6, "Gateway, continued"): the upstreams, each with its
//! client and its assertions' audience, and the route table that sends
//! requests to them. One [`Routing`] is one version of the configuration:
//! a request takes one and keeps it to the end, so a reload never shows it
//! half of one and half of the other.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use serde_json::Value;

use super::{openapi, table, target::Target, upstream::Upstream};
use crate::{
    auth::{assertion::Assertions, keyring::KeyRing},
    config::{
        RatePolicy,
        gateway::{Access, GatewaySettings},
    },
    ratelimit::PolicyName,
};

/// Why the gateway cannot start, or a reload is refused: one sentence.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GatewayError(pub(crate) String);

/// How long an upstream's OpenAPI document is waited for.
const OPENAPI_PATIENCE: Duration = Duration::from_secs(30);

/// One version of the gateway's configuration.
pub struct Routing {
    pub(super) table: table::Table,
    /// Every upstream, in the configuration's order.
    pub(super) targets: Vec<Arc<Target>>,
    /// Each upstream's OpenAPI document, for rampart's own (`/openapi.json`).
    pub(super) documents: Vec<(Arc<Target>, Value)>,
    /// rampart's document with these, made at the first request for it.
    pub(super) merged_docs: OnceLock<axum::body::Bytes>,
    /// Assertions for forward-auth answers (`gateway.forward_auth_audience`).
    pub(super) forward_auth: Assertions,
    /// The envelope's bound for a forwarded request: its own steps, then
    /// the upstream's time.
    pub(super) deadline: Duration,
}

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

/// What a [`Routing`] is built with, besides the settings.
pub struct Signing<'a> {
    pub keys: &'a Arc<KeyRing>,
    pub issuer: &'a str,
    /// `limits.request_timeout`.
    pub request_timeout: Duration,
}

impl Routing {
    /// Builds the upstreams (reusing `previous`' clients for origins it
    /// already reached) and the route table, reading each upstream's
    /// OpenAPI document (for up to 30 s).
    pub async fn build(
        settings: &GatewaySettings,
        signing: &Signing<'_>,
        previous: Option<&Self>,
    ) -> Result<Self, GatewayError> {
        let upstreams = settings.all_upstreams().map_err(GatewayError)?;
        let ttl = settings.assertion_ttl.get();
        let mut targets = Vec::with_capacity(upstreams.len());
        for upstream in &upstreams {
            let origin = upstream.url.origin();
            let reused = previous.and_then(|previous| {
                previous
                    .targets
                    .iter()
                    .find(|target| target.assertions.audience() == origin)
                    .map(|target| target.upstream.clone())
            });
            let client = match reused {
                Some(client) => client,
                None => Arc::new(Upstream::new(&upstream.url).map_err(|err| {
                    GatewayError(format!("gateway upstream {}: {err}", upstream.name.as_str()))
                })?),
            };
            targets.push(Arc::new(Target::new(
                upstream.name.as_str(),
                client,
                Assertions::new(signing.keys.clone(), signing.issuer, origin, ttl),
                upstream.hosts.clone(),
                settings.timeout.get(),
            )));
        }
        let mut routes = Vec::new();
        for (route, own) in settings.routes.iter().zip(own_policies(settings)) {
            if let Some(bad) = unholdable_role(&route.access) {
                return Err(GatewayError(format!(
                    "gateway.routes path {}: `{bad}` is not a role name (a lower-case letter, then letters, digits, _ or -)",
                    route.path
                )));
            }
            let target = settings
                .route_upstream(route, &upstreams)
                .map_err(GatewayError)?
                .and_then(|named| targets.iter().find(|t| &*t.name == named.name.as_str()))
                .cloned();
            let policy = own.map_or(PolicyName::Default, |(name, _)| name);
            routes.push(table::Route::configured(route, policy, target));
        }
        let mut documents = Vec::new();
        for (upstream, target) in upstreams.iter().zip(&targets) {
            let Some(path) = &upstream.openapi else {
                continue;
            };
            let whose = || {
                if upstream.name.as_str() == crate::config::gateway::DEFAULT_UPSTREAM {
                    "gateway.openapi".to_owned()
                } else {
                    format!("gateway.upstreams {} openapi", upstream.name.as_str())
                }
            };
            let document = target
                .upstream
                .fetch_json(path.as_str(), OPENAPI_PATIENCE)
                .await
                .map_err(|why| {
                    GatewayError(format!(
                        "{}: cannot read {}{}: {why}",
                        whose(),
                        upstream.url.origin(),
                        path.as_str()
                    ))
                })?;
            let documented = openapi::routes(&document, Some(target)).map_err(|why| {
                GatewayError(format!(
                    "{}: {}{} is not understood: {why}",
                    whose(),
                    upstream.url.origin(),
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
                upstream = %target.name,
                routes = documented.len(),
                "gateway routes read from the upstream's OpenAPI document"
            );
            routes.extend(documented);
            documents.push((target.clone(), document));
        }
        Ok(Self {
            table: table::Table::new(routes),
            targets,
            documents,
            merged_docs: OnceLock::new(),
            forward_auth: Assertions::new(
                signing.keys.clone(),
                signing.issuer,
                &settings.forward_auth_audience,
                ttl,
            ),
            deadline: signing.request_timeout + settings.timeout.get(),
        })
    }
}

impl Routing {
    /// How many routes its table holds.
    pub fn routes(&self) -> usize {
        self.table.len()
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
