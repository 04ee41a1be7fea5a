//! Routes the router's own table does not hold: the gateway's, matched by
//! the gateway's rules. The route table ([`super::route::RouteTable`])
//! asks a [`RouteResolver`] once, before the envelope's steps, for a
//! request no route of the router matches; the answer names the route in
//! the access log and metrics, chooses its rate-limit policy and bounds its
//! time, as the router's templates and the policy table do for the
//! router's own routes.

use std::{any::Any, sync::Arc, time::Duration};

use http::Method;

use crate::ratelimit::PolicyName;

/// A request's route, as a resolver found it.
#[derive(Clone, Debug)]
pub struct ResolvedRoute {
    /// The route's template, for logs and metrics.
    pub template: Arc<str>,
    /// The rate-limit policy; `None`: unlimited.
    pub policy: Option<PolicyName>,
    /// How long the steps and the handler may take in all (the handler
    /// bounds its own wait for the upstream).
    pub deadline: Duration,
    /// The resolver's own route, for its handler: the one it found, even
    /// if the resolver's table is replaced meanwhile.
    pub route: Arc<dyn Any + Send + Sync>,
}

/// Finds the route of a request the router's table did not match.
pub trait RouteResolver: Send + Sync + 'static {
    /// `path` is the request's path exactly as sent; `host` the host it
    /// was sent to (its authority without the port), if it names one.
    fn resolve(&self, method: &Method, path: &str, host: Option<&str>) -> Option<ResolvedRoute>;
}

/// The host of an authority (`Host` or the URI's): without its port, an
/// IPv6 address with its brackets.
pub fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.find(']').map_or(authority, |end| &authority[..=end]);
    }
    authority.rsplit_once(':').map_or(authority, |(host, _)| host)
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn hosts_lose_their_ports() {
        assert_eq!(host_of("api.example:8443"), "api.example");
        assert_eq!(host_of("api.example"), "api.example");
        assert_eq!(host_of("[::1]:80"), "[::1]");
        assert_eq!(host_of("[::1]"), "[::1]");
        assert_eq!(host_of("127.0.0.1:1"), "127.0.0.1");
    }
}

/// Marks a response relayed from elsewhere (an upstream's): the envelope
/// keeps its body and the headers it set, adding only what is missing.
#[derive(Clone, Copy, Debug)]
pub struct Relayed;
