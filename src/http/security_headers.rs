//! The security headers of every response (SPEC section 3, "On every
//! response"; OWASP HTTP security response headers cheat sheet). Laying
//! the response's own headers over them, this also leaves out `Server`,
//! and a `Content-Length` that hyper writes itself from the body.

use axum::response::Response;
use http::{HeaderMap, HeaderValue, header};

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

/// Not among `http`'s constants; named once, not parsed per response.
const CROSS_ORIGIN_OPENER_POLICY: header::HeaderName =
    header::HeaderName::from_static("cross-origin-opener-policy");

/// The headers for each kind of response, built once: JSON or HTML, over
/// TLS or not. A response's headers are laid over a copy of its kind's
/// set, which costs one copy and a lookup per header of the response's own,
/// rather than a lookup per security header.
#[derive(Clone, Debug)]
pub struct SecurityHeaders {
    /// Indexed by [`Self::kind`].
    sets: [HeaderMap; 4],
}

impl SecurityHeaders {
    /// `hsts_max_age`: `tls.hsts_max_age`.
    pub fn new(hsts_max_age: std::time::Duration) -> Self {
        let hsts = format!("max-age={}; includeSubDomains", hsts_max_age.as_secs());
        let hsts = HeaderValue::from_str(&hsts).expect("digits and ASCII");
        let set = |html: bool, https: bool| {
            // Room for a response's own headers and the envelope's.
            let mut headers = HeaderMap::with_capacity(16);
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                if html { HTML_CSP } else { JSON_CSP },
            );
            headers.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
            headers.insert(header::X_FRAME_OPTIONS, DENY);
            headers.insert(header::REFERRER_POLICY, NO_REFERRER);
            headers.insert(CROSS_ORIGIN_OPENER_POLICY, SAME_ORIGIN);
            // HSTS is only meaningful, and only allowed (RFC 6797 section
            // 7.2), over a secure transport.
            if https {
                headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
            }
            headers
        };
        Self {
            sets: [
                set(false, false),
                set(false, true),
                set(true, false),
                set(true, true),
            ],
        }
    }

    fn kind(html: bool, https: bool) -> usize {
        usize::from(html) * 2 + usize::from(https)
    }

    /// Sets the headers on `response`. `https`: the request came over TLS.
    pub fn apply(&self, response: &mut Response, https: bool) {
        let html = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|ct| ct.as_bytes().starts_with(b"text/html"));
        let set = &self.sets[Self::kind(html, https)];
        let written_by_hyper = length_hyper_writes(response);
        // Each only where the response has none: the response's own values
        // replace the set's. Of rampart's own handlers only `/docs` states
        // a policy, to extend the HTML one as SPEC section 3 allows; an
        // upstream's own choices stand (SPEC section 6).
        let own = std::mem::replace(response.headers_mut(), set.clone());
        let headers = response.headers_mut();
        // The name of the values that follow (a header with several values
        // yields its name once), or `None` while they are left out.
        let mut current: Option<header::HeaderName> = None;
        for (name, value) in own {
            if let Some(name) = name {
                let left_out = name == header::SERVER
                    || name == header::CONTENT_LENGTH
                        && written_by_hyper.is_some()
                        && written_by_hyper == length_of(&value);
                current = (!left_out).then_some(name);
                if let Some(name) = &current {
                    headers.insert(name, value);
                }
            } else if let Some(name) = &current {
                headers.append(name, value);
            }
        }
    }
}

/// The `Content-Length` hyper writes itself when the response has none:
/// that of a body whose length is known, unless the status has no body
/// (hyper's `h1::role::Server::encode`; its HTTP/2 server sets the header
/// the same way). axum's router adds the header from the same length, as
/// a header value it allocates and hyper then reads back; left out here,
/// it costs neither. A `HEAD` answer keeps its header: its body is empty,
/// its length is the `GET`'s.
fn length_hyper_writes(response: &Response) -> Option<u64> {
    let status = response.status();
    let has_body = !(status.is_informational()
        || status == http::StatusCode::NO_CONTENT
        || status == http::StatusCode::NOT_MODIFIED);
    http_body::Body::size_hint(response.body())
        .exact()
        .filter(|&length| has_body && length > 0)
}

fn length_of(value: &HeaderValue) -> Option<u64> {
    value.to_str().ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(own: &[(header::HeaderName, &'static str)], https: bool) -> HeaderMap {
        applied_to("", own, https)
    }

    fn applied_to(body: &'static str, own: &[(header::HeaderName, &'static str)], https: bool) -> HeaderMap {
        let mut response = Response::new(axum::body::Body::from(body));
        for (name, value) in own {
            response
                .headers_mut()
                .append(name.clone(), HeaderValue::from_static(value));
        }
        SecurityHeaders::new(std::time::Duration::from_secs(60)).apply(&mut response, https);
        response.headers().clone()
    }

    #[test]
    fn every_header_is_set_and_hsts_only_over_tls() {
        let plain = applied(&[], false);
        assert_eq!(plain[header::CONTENT_SECURITY_POLICY], JSON_CSP);
        assert_eq!(plain[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(plain[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(plain[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(plain[CROSS_ORIGIN_OPENER_POLICY], "same-origin");
        assert!(!plain.contains_key(header::STRICT_TRANSPORT_SECURITY));
        let tls = applied(&[], true);
        assert_eq!(
            tls[header::STRICT_TRANSPORT_SECURITY],
            "max-age=60; includeSubDomains"
        );
    }

    #[test]
    fn the_responses_own_headers_stand_and_server_goes() {
        let headers = applied(
            &[
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::X_FRAME_OPTIONS, "SAMEORIGIN"),
                (header::SET_COOKIE, "a=1"),
                (header::SET_COOKIE, "b=2"),
                (header::SERVER, "upstream/1.0"),
                (header::SERVER, "and/2.0"),
            ],
            false,
        );
        assert_eq!(headers[header::CONTENT_SECURITY_POLICY], HTML_CSP);
        assert_eq!(headers[header::X_FRAME_OPTIONS], "SAMEORIGIN");
        assert_eq!(headers.get_all(header::X_FRAME_OPTIONS).iter().count(), 1);
        let cookies: Vec<_> = headers.get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert!(!headers.contains_key(header::SERVER));
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    }

    #[test]
    fn a_length_hyper_writes_itself_is_left_to_it() {
        let length = [(header::CONTENT_LENGTH, "15")];
        // A body of known length: hyper writes the same header.
        let body = applied_to(r#"{"status":"ok"}"#, &length, false);
        assert!(!body.contains_key(header::CONTENT_LENGTH));
        // A `HEAD` answer's empty body: the header is the only length.
        let head = applied_to("", &length, false);
        assert_eq!(head[header::CONTENT_LENGTH], "15");
        // One that does not match the body stays for hyper to refuse.
        let wrong = applied_to("{}", &length, false);
        assert_eq!(wrong[header::CONTENT_LENGTH], "15");
    }
}
