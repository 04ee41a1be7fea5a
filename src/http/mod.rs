//! HTTP plumbing shared by every route: the middleware stack, extractors
//! that fail with the spec's errors, and the error model.
//!
//! The files form a stack, each importing only those below it: answers
//! first (`detail`, the `{"detail"}` body; `limited`, a rate limit's
//! headers and refusal; `error`, the error model), then what a request
//! carries (`request_id`, `client`, `cookies`, `credentials`, `context`,
//! `provenance`), then the extractors (`caller`, `identity`, `extract`), then the steps
//! (`cors`, `csrf`, `rate_limit`, `second_factor`, `security_headers`, `access_log`,
//! `upgrade`) and the envelope that runs them in the order [`Stack`]
//! states.

pub mod access_log;
pub mod caller;
pub mod client;
pub mod context;
pub mod cookies;
pub mod cors;
pub mod credentials;
pub mod csrf;
pub mod detail;
mod envelope;
pub mod error;
pub mod extract;
pub mod identity;
pub mod limited;
pub mod provenance;
pub mod rate_limit;
pub mod request_id;
pub mod resolve;
pub mod route;
pub mod second_factor;
pub mod security_headers;
pub mod upgrade;

use std::sync::Arc;

use axum::{Router, extract::DefaultBodyLimit};
use tower::{Layer, util::Either};

use crate::{
    audit::Auditor,
    auth::{session::Sessions, tokens::TokenService},
    config::Settings,
    ratelimit::RateLimits,
};

/// What axum's body extractors read at most unless told otherwise.
const AXUM_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// HSTS max-age when TLS is terminated by a trusted proxy and `[tls]` is
/// absent: one year, as `tls.hsts_max_age` defaults to.
const DEFAULT_HSTS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(365 * 86_400);

/// The middleware stack that wraps the routes. The order is the security
/// story, read top (outermost, first to see a request) to bottom:
///
/// 1. the envelope ([`envelope::EnvelopeLayer`]), one function for the steps that
///    must see every request and response, in this order: request id,
///    client IP and transport, the route ([`route`]), CORS preflights (answered, or refused: 403
///    for a foreign origin) ([`cors`]); then, under one deadline
///    (`limits.request_timeout`, answered 503) and one panic guard (a
///    panic becomes a 500 and the server lives on): authentication (bearer
///    token, else session cookie), the rate limit, after authentication so
///    a signed-in client spends its user's budget ([`rate_limit`]), the
///    CSRF rules for requests the cookie authenticates ([`csrf`]), the
///    second-factor policy ([`second_factor`]), the body limit (a body over `limits.max_body_bytes` is refused with
///    413), and the handler; then on the way out, for every response of
///    the steps above and below: security headers (first, so that only
///    the response's own headers can stand in for them), the `RateLimit-*`
///    headers, CORS headers, `Cache-Control: no-store` for private
///    answers, error bodies, the request id, the access log and metrics;
/// 2. where `limits.max_body_bytes` is above axum's own 2 MiB, axum's
///    body extractors are told not to cap bodies at theirs;
/// 3. the router, which routes the request to its handler.
pub struct Stack {
    envelope: Arc<envelope::Envelope>,
    rules: route::RouteRules,
    max_body_bytes: usize,
}

/// A router inside the stack, as the listeners serve it.
pub type App = envelope::EnvelopeService<Either<<DefaultBodyLimit as Layer<Router>>::Service, Router>>;

/// What the stack is built from: the settings and the services its steps
/// use.
pub struct StackParts<'a> {
    pub settings: &'a Settings,
    pub tokens: Arc<TokenService>,
    pub sessions: Sessions,
    pub csrf: Arc<csrf::CsrfGuard>,
    /// The allowlist, shared with the CSRF guard.
    pub cors: Arc<cors::Cors>,
    pub limits: Arc<RateLimits>,
    /// The rules of the router's routes (rate-limit policy, privacy).
    pub own_rules: route::OwnRules,
    /// Routes the router does not hold (the gateway's), if any.
    pub resolver: Option<Arc<dyn resolve::RouteResolver>>,
    pub audit: Auditor,
}

impl Stack {
    /// Built once (CORS, trusted proxies, HSTS, the envelope), and shared
    /// by every listener's routes.
    pub fn new(parts: StackParts<'_>) -> Self {
        let settings = parts.settings;
        let envelope = envelope::Envelope {
            tokens: parts.tokens,
            sessions: parts.sessions,
            csrf: parts.csrf,
            rate_limit: rate_limit::RateLimitStep {
                limits: parts.limits,
                audit: parts.audit.clone(),
            },
            audit: parts.audit,
            cors: parts.cors,
            proxies: Arc::new(client::TrustedProxies::new(
                settings.proxy.trusted.iter().map(|net| net.0),
            )),
            max_body_bytes: settings.limits.max_body_bytes,
            factor_policy: second_factor::FactorPolicy::new(settings.auth.mfa),
            security_headers: security_headers::SecurityHeaders::new(
                settings
                    .tls
                    .as_ref()
                    .map_or(DEFAULT_HSTS_MAX_AGE, |tls| tls.hsts_max_age.get()),
            ),
        };
        Self {
            envelope: Arc::new(envelope),
            rules: route::RouteRules {
                own: parts.own_rules,
                own_prefix: settings.own_prefix().to_owned(),
                resolver: parts.resolver,
                request_timeout: settings.limits.request_timeout.get(),
            },
            max_body_bytes: settings.limits.max_body_bytes,
        }
    }

    /// `routes`, built from `templates`, inside the stack. The envelope
    /// wraps the router once, not each route ([`route`] says why).
    pub fn apply(&self, routes: Router, templates: route::Templates) -> App {
        // The envelope's is the one body limit; axum's extractors cap what
        // they read at 2 MiB of their own unless told otherwise, which
        // would cut a larger configured limit short. (Told per request, by
        // an extension: only where it matters.)
        let routes = if self.max_body_bytes > AXUM_BODY_LIMIT {
            Either::Left(DefaultBodyLimit::disable().layer(routes))
        } else {
            Either::Right(routes)
        };
        let envelope = envelope::EnvelopeLayer {
            envelope: self.envelope.clone(),
            routes: Arc::new(route::RouteTable::new(templates, self.rules.clone())),
        };
        envelope.layer(routes)
    }
}
