//! Routes the router's own table does not hold: the gateway's, matched by
//! the gateway's rules. The route table ([`super::route::RouteTable`])
//! asks a [`RouteResolver`] once, before the envelope's steps, for a
//! request no route of the router matches; the answer names the route in
//! the access log and metrics, chooses its rate-limit policy and bounds its
//! time, as the router's templates and the policy table do for the
//! router's own routes.

use std::{sync::Arc, time::Duration};

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
    /// The resolver's own number for the route, for its handler.
    pub index: usize,
}

/// Finds the route of a request the router's table did not match.
pub trait RouteResolver: Send + Sync + 'static {
    /// `path` is the request's path exactly as sent.
    fn resolve(&self, method: &Method, path: &str) -> Option<ResolvedRoute>;
}

/// Marks a response relayed from elsewhere (an upstream's): the envelope
/// keeps its body and the headers it set, adding only what is missing.
#[derive(Clone, Copy, Debug)]
pub struct Relayed;
