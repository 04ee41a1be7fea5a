//! CORS (SPEC section 3, "CORS"): an exact-origin allowlist, applied by the
//! envelope.
//!
//! Written here rather than with tower-http's `CorsLayer` for two reasons,
//! both measured or required: the layer cannot refuse a preflight from a
//! foreign origin (SPEC: 403), and as a separate layer it cost about a
//! fifth of the throughput of a small route (`GET /healthz`, 50k -> 39k
//! requests/s with the rate-limit layer, `../shared/bench` A/B on one
//! core), because it builds a header map for every request, even those
//! without `Origin`, and sits in the stack that `from_fn` clones per
//! request. The rules are few: a request without `Origin` costs one header
//! lookup and one `Vary` header here.

use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};

use crate::config::{AllowedOrigin, CorsSettings};

/// The headers a browser client may read besides the CORS-safelisted ones.
const EXPOSED: &str = "x-request-id, ratelimit-limit, ratelimit-remaining, ratelimit-reset, retry-after";
/// What a preflight answer varies on (Fetch standard, CORS protocol).
const PREFLIGHT_VARY: &str = "origin, access-control-request-method, access-control-request-headers";

/// The allowlist and the answers built from `[cors]`, once.
#[derive(Clone, Debug)]
pub struct Cors {
    any: bool,
    origins: Vec<HeaderValue>,
    credentials: bool,
    methods: HeaderValue,
    headers: HeaderValue,
    max_age: HeaderValue,
}

/// Why an `OPTIONS` request is not a preflight to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screened {
    /// A preflight from an allowed origin: answer it.
    Preflight,
    /// From an origin not on the list: 403.
    Foreign,
    /// No route serves `OPTIONS`: 405.
    NotPreflight,
}

fn joined<T: AsRef<str>>(items: impl IntoIterator<Item = T>) -> HeaderValue {
    let text = items
        .into_iter()
        .map(|i| i.as_ref().to_owned())
        .collect::<Vec<_>>()
        .join(", ");
    HeaderValue::from_str(&text).expect("methods and header names are valid header text")
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
        Self {
            any,
            origins,
            // `*` with credentials is refused at start; `*` alone never
            // carries credentials.
            credentials: settings.allow_credentials && !any,
            methods: joined(settings.allow_methods.iter().map(|m| m.0.as_str())),
            headers: joined(settings.allow_headers.iter().map(|h| h.0.as_str())),
            max_age: HeaderValue::from(settings.max_age.get().as_secs()),
        }
    }

    /// Whether `origin` may read responses.
    pub fn allows(&self, origin: &HeaderValue) -> bool {
        self.any || self.lists(origin)
    }

    /// Whether `origin` is on the list by name (`*` names nobody).
    pub fn lists(&self, origin: &HeaderValue) -> bool {
        self.origins.iter().any(|allowed| allowed == origin)
    }

    /// Sorts an `OPTIONS` request; `None` for every other method.
    pub fn screen<B>(&self, request: &Request<B>) -> Option<Screened> {
        if request.method() != Method::OPTIONS {
            return None;
        }
        let headers = request.headers();
        Some(match headers.get(header::ORIGIN) {
            Some(origin) if !self.allows(origin) => Screened::Foreign,
            Some(_) if headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) => Screened::Preflight,
            _ => Screened::NotPreflight,
        })
    }

    /// The answer to a preflight from an allowed `origin`: what may be
    /// sent, for how long the browser may remember it.
    pub fn preflight<B: Default>(&self, origin: &HeaderValue) -> Response<B> {
        let mut response = Response::new(B::default());
        *response.status_mut() = StatusCode::NO_CONTENT;
        let headers = response.headers_mut();
        self.allow(headers, origin);
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, self.methods.clone());
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, self.headers.clone());
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
        headers.insert(header::VARY, HeaderValue::from_static(PREFLIGHT_VARY));
        response
    }

    /// Decorates an actual response: `Vary: Origin` always, and for an
    /// allowed `origin` the headers that let it read the response.
    pub fn decorate(&self, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
        headers.append(header::VARY, HeaderValue::from_static("origin"));
        if let Some(origin) = origin.filter(|o| self.allows(o)) {
            self.allow(headers, origin);
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSED),
            );
        }
    }

    fn allow(&self, headers: &mut HeaderMap, origin: &HeaderValue) {
        let allowed = if self.any && !self.credentials {
            HeaderValue::from_static("*")
        } else {
            origin.clone()
        };
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
        if self.credentials {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::limited::{RATELIMIT_LIMIT, RATELIMIT_REMAINING, RATELIMIT_RESET};

    fn cors(origins: &[&str], credentials: bool) -> Cors {
        Cors::new(&CorsSettings {
            allow_origins: origins.iter().map(|o| o.parse().unwrap()).collect(),
            allow_credentials: credentials,
            ..CorsSettings::default()
        })
    }

    #[test]
    fn exposes_every_header_a_client_needs() {
        let names = [
            RATELIMIT_LIMIT,
            RATELIMIT_REMAINING,
            RATELIMIT_RESET,
            header::RETRY_AFTER,
        ];
        for name in names.iter().map(http::HeaderName::as_str).chain(["x-request-id"]) {
            assert!(EXPOSED.split(", ").any(|e| e == name), "{name}");
        }
    }

    #[test]
    fn only_listed_origins_are_echoed_and_any_origin_gets_a_star_without_credentials() {
        let listed = cors(&["https://app.example.com"], true);
        let mut headers = HeaderMap::new();
        listed.decorate(
            Some(&HeaderValue::from_static("https://evil.example.net")),
            &mut headers,
        );
        assert_eq!(headers.len(), 1, "only Vary: {headers:?}");
        listed.decorate(
            Some(&HeaderValue::from_static("https://app.example.com")),
            &mut headers,
        );
        assert_eq!(
            headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example.com"
        );
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");

        let any = cors(&["*"], false);
        let mut headers = HeaderMap::new();
        any.decorate(Some(&HeaderValue::from_static("https://x.example")), &mut headers);
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS));
    }
}
