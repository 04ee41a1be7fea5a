//! CORS (SPEC section 3, "CORS"): an exact-origin allowlist.
//!
//! tower-http's `CorsLayer` answers preflights and stamps the headers; this
//! module builds it from `[cors]` and adds the rule it lacks: a preflight
//! from an origin outside the list is refused with 403 (the envelope asks
//! [`Cors::screen`]), so a misconfigured front end fails visibly instead of
//! with an opaque browser error, and no `OPTIONS` but a real preflight
//! from an allowed origin reaches the layer.

use http::{HeaderValue, Method, Request, StatusCode, header};
use tower_http::cors::{AllowCredentials, AllowOrigin, CorsLayer, ExposeHeaders};

use super::rate_limit::{RATELIMIT_LIMIT, RATELIMIT_REMAINING, RATELIMIT_RESET};
use crate::config::{AllowedOrigin, CorsSettings};

/// The allowlist, as the envelope and the layer both use it.
#[derive(Clone, Debug)]
pub struct Cors {
    any: bool,
    origins: Vec<HeaderValue>,
}

impl Cors {
    pub fn new(settings: &CorsSettings) -> Self {
        let any = settings.allow_origins.contains(&AllowedOrigin::Any);
        let origins = settings
            .allow_origins
            .iter()
            .filter_map(|origin| match origin {
                AllowedOrigin::Exact(origin) => HeaderValue::from_str(origin).ok(),
                AllowedOrigin::Any => None,
            })
            .collect();
        Self { any, origins }
    }

    /// Whether `origin` may read responses.
    pub fn allows(&self, origin: &HeaderValue) -> bool {
        self.any || self.origins.iter().any(|allowed| allowed == origin)
    }

    /// Screens `OPTIONS` requests, which no route serves: only a preflight
    /// (`Origin` and `Access-Control-Request-Method`) from an allowed origin
    /// goes on, to be answered by the layer. A foreign origin gets 403, and
    /// anything else 405, so no other caller sees `Access-Control-Allow-*`.
    pub fn screen<B>(&self, request: &Request<B>) -> Option<StatusCode> {
        if request.method() != Method::OPTIONS {
            return None;
        }
        let headers = request.headers();
        match headers.get(header::ORIGIN) {
            Some(origin) if !self.allows(origin) => Some(StatusCode::FORBIDDEN),
            Some(_) if headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) => None,
            _ => Some(StatusCode::METHOD_NOT_ALLOWED),
        }
    }

    /// `Access-Control-Allow-Credentials` only for origins on the list: the
    /// other origins get no `Access-Control-Allow-*` header at all.
    fn credentials(&self, settings: &CorsSettings) -> AllowCredentials {
        if !settings.allow_credentials || self.any {
            return AllowCredentials::default();
        }
        let cors = self.clone();
        AllowCredentials::predicate(move |origin, _| cors.allows(origin))
    }

    /// tower-http's layer for the same list. `*` with credentials never
    /// reaches here: the configuration refuses it at start.
    pub fn layer(&self, settings: &CorsSettings) -> CorsLayer {
        let origins = if self.any {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(self.origins.clone())
        };
        CorsLayer::new()
            .allow_origin(origins)
            .allow_credentials(self.credentials(settings))
            .allow_methods(
                settings
                    .allow_methods
                    .iter()
                    .map(|m| m.0.clone())
                    .collect::<Vec<_>>(),
            )
            .allow_headers(
                settings
                    .allow_headers
                    .iter()
                    .map(|h| h.0.clone())
                    .collect::<Vec<_>>(),
            )
            // Let a browser client read what it needs to behave well.
            .expose_headers(ExposeHeaders::list([
                http::HeaderName::from_static("x-request-id"),
                RATELIMIT_LIMIT,
                RATELIMIT_REMAINING,
                RATELIMIT_RESET,
                header::RETRY_AFTER,
            ]))
            .max_age(settings.max_age.get())
    }
}
