//! The plain-HTTP side of an HTTPS server: the `tls.redirect_http_from`
//! listener, and plain-HTTP requests that reach the TLS port.
//!
//! A person typing the address gets the page over HTTPS: `GET` and `HEAD`
//! of the pages answer 308 to the same path and query on `https://`.
//! Everything else, API calls above all, answers 400 `HTTPS required`: a
//! client that sent credentials in clear text must fail loudly, not be
//! redirected silently with its token already exposed (OWASP ASVS 5.0
//! 4.1.2; RFC 6750 section 5.3 requires TLS for bearer tokens).
//!
//! The redirect goes only to a host the configured certificate names. The
//! `Host` header is the client's to write: copied blindly into `Location`,
//! it makes this listener an open redirect, and a cache in front of it
//! would keep that redirect for every later visitor (OWASP Unvalidated
//! Redirects and Forwards cheat sheet: redirect to an allowlist; ASVS 5.0
//! 3.7.2: automatic redirects only to allowed hosts). Any other host is 400.

use std::sync::Arc;

use axum::{Router, extract::State, response::Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};

use crate::{
    http::{client, error::ApiError},
    server::tls::Certificates,
};

/// The answer to anything but a page over plain HTTP.
const HTTPS_REQUIRED: &str = "HTTPS required";

/// The pages a person may type into a browser's address bar: rampart's
/// own (under `gateway.own_prefix`), and `/`, which with a gateway is the
/// upstream's landing page.
pub fn pages(own_prefix: &str, gateway: bool) -> Vec<String> {
    let own: &[&str] = if gateway {
        &["/login", "/docs"]
    } else {
        &["/login", "/app", "/docs"]
    };
    std::iter::once("/".to_owned())
        .chain(own.iter().map(|page| format!("{own_prefix}{page}")))
        .collect()
}

#[derive(Clone)]
struct Redirect {
    /// The TLS listener's port.
    https_port: u16,
    /// The certificate in use, whose names are the hosts redirected to.
    certificates: Arc<Certificates>,
    /// The paths redirected ([`pages`]).
    pages: Arc<[String]>,
}

/// The app that answers plain HTTP; `https_port` is the TLS listener's.
pub fn router(https_port: u16, certificates: Arc<Certificates>, pages: Vec<String>) -> Router {
    Router::new().fallback(to_https).with_state(Redirect {
        https_port,
        certificates,
        pages: pages.into(),
    })
}

async fn to_https(
    State(redirect): State<Redirect>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let page =
        (method == Method::GET || method == Method::HEAD) && redirect.pages.iter().any(|p| p == uri.path());
    if !page {
        return Err(ApiError::BadRequest(HTTPS_REQUIRED));
    }
    match target(&uri, &headers, redirect.https_port) {
        Some((host, _)) if !redirect.certificates.names(&host) => Err(ApiError::BadRequest("Unknown host")),
        Some((_, location)) => {
            let mut response = Response::new(axum::body::Body::empty());
            *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
            response.headers_mut().insert(header::LOCATION, location);
            Ok(response)
        }
        None => Err(ApiError::BadRequest(HTTPS_REQUIRED)),
    }
}

/// The host the client asked for (if it is a plain host name or address)
/// and `https://HOST[:PORT]/path?query` with the TLS listener's port.
fn target(uri: &Uri, headers: &HeaderMap, https_port: u16) -> Option<(String, HeaderValue)> {
    let authority = client::authority(uri, headers)?;
    // A Host header never carries user information (RFC 9110 section 7.2).
    if authority.contains('@') {
        return None;
    }
    let authority: http::uri::Authority = authority.parse().ok()?;
    let host = authority.host();
    let plain = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    if !plain {
        return None;
    }
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let location = if https_port == 443 {
        format!("https://{host}{path}")
    } else {
        format!("https://{host}:{https_port}{path}")
    };
    let location = HeaderValue::from_str(&location).ok()?;
    Some((host.to_owned(), location))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_move_with_the_prefix_and_the_gateway_owns_the_root() {
        assert_eq!(pages("", false), ["/", "/login", "/app", "/docs"]);
        assert_eq!(pages("/auth", true), ["/", "/auth/login", "/auth/docs"]);
    }

    fn headers(host: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(header::HOST, host.parse().unwrap());
        map
    }

    #[test]
    fn keeps_host_path_and_query_and_uses_the_tls_port() {
        let uri: Uri = "/login?next=%2Fapp".parse().unwrap();
        assert_eq!(
            target(&uri, &headers("example.com:8080"), 8443).unwrap().1,
            "https://example.com:8443/login?next=%2Fapp"
        );
        assert_eq!(
            target(&"/".parse().unwrap(), &headers("example.com"), 443).unwrap(),
            (
                "example.com".to_owned(),
                HeaderValue::from_static("https://example.com/")
            )
        );
        assert_eq!(
            target(&"/".parse().unwrap(), &headers("[::1]:80"), 8443).unwrap(),
            (
                "[::1]".to_owned(),
                HeaderValue::from_static("https://[::1]:8443/")
            )
        );
    }

    #[test]
    fn refuses_hosts_that_are_not_plain_names() {
        let uri: Uri = "/".parse().unwrap();
        assert!(target(&uri, &headers("evil.com@good.com"), 443).is_none());
        assert!(target(&uri, &HeaderMap::new(), 443).is_none());
    }
}
