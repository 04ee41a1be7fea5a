//! The security headers of every response (SPEC section 3, "On every
//! response"; OWASP HTTP security response headers cheat sheet).

use axum::response::Response;
use http::{HeaderValue, header};

/// API responses may load nothing and be framed by nobody.
const JSON_CSP: HeaderValue = HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'");
/// Pages load only rampart's own scripts and styles: no inline script, no
/// plugins, no `<base>` rewriting, forms post only to rampart.
const HTML_CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; \
     frame-ancestors 'none'; form-action 'self'",
);
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const DENY: HeaderValue = HeaderValue::from_static("DENY");
const NO_REFERRER: HeaderValue = HeaderValue::from_static("no-referrer");
const SAME_ORIGIN: HeaderValue = HeaderValue::from_static("same-origin");

/// The `Strict-Transport-Security` value, built once from `tls.hsts_max_age`.
#[derive(Clone, Debug)]
pub struct Hsts(pub HeaderValue);

impl Hsts {
    pub fn new(max_age: std::time::Duration) -> Self {
        let value = format!("max-age={}; includeSubDomains", max_age.as_secs());
        Self(HeaderValue::from_str(&value).expect("digits and ASCII"))
    }
}

/// Sets the headers on `response`. `https`: the request came over TLS.
/// Not among `http`'s constants; named once, not parsed per response.
const CROSS_ORIGIN_OPENER_POLICY: header::HeaderName =
    header::HeaderName::from_static("cross-origin-opener-policy");

pub fn apply(response: &mut Response, https: bool, hsts: &Hsts) {
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"text/html"));
    let headers = response.headers_mut();
    // Each only where the response has none. Of rampart's own handlers
    // only `/docs` states a policy, to extend the HTML one as SPEC section 3
    // allows; an upstream's own choices stand (SPEC section 6).
    set_if_missing(
        headers,
        header::CONTENT_SECURITY_POLICY,
        if is_html { HTML_CSP } else { JSON_CSP },
    );
    set_if_missing(headers, header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    set_if_missing(headers, header::X_FRAME_OPTIONS, DENY);
    set_if_missing(headers, header::REFERRER_POLICY, NO_REFERRER);
    set_if_missing(headers, CROSS_ORIGIN_OPENER_POLICY, SAME_ORIGIN);
    headers.remove(header::SERVER);
    // HSTS is only meaningful, and only allowed (RFC 6797 section 7.2), over
    // a secure transport.
    if https {
        set_if_missing(headers, header::STRICT_TRANSPORT_SECURITY, hsts.0.clone());
    }
}

fn set_if_missing(headers: &mut http::HeaderMap, name: header::HeaderName, value: HeaderValue) {
    if let header::Entry::Vacant(entry) = headers.entry(name) {
        entry.insert(value);
    }
}
