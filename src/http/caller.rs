//! Who sent a request that checks a password or a code, or starts a
//! WebAuthn ceremony: the client, the headers it sent (its device cookie
//! among them) and the request's provenance, for the login budgets and the
//! audit trail; and the origin its browser used, which WebAuthn binds a
//! credential to.

use axum::extract::FromRequestParts;
use http::{HeaderMap, Uri, request::Parts};
use url::Url;

use super::{
    client::{ClientInfo, authority},
    cookies,
};
use crate::{audit::Provenance, auth::login::Client};

/// A request's caller, borrowed from wherever the request's parts are.
#[derive(Clone, Copy)]
pub struct Requester<'a> {
    pub client: &'a ClientInfo,
    pub headers: &'a HeaderMap,
    pub provenance: &'a Provenance,
}

impl Requester<'_> {
    /// The client as the login budgets know it.
    pub fn login_client(&self) -> Client<'_> {
        Client {
            ip: self.client.ip,
            device_cookie: cookies::get(self.headers, cookies::names(self.client.https).device),
        }
    }
}

/// A request's caller, owned: the extractor of the routes that check a
/// current password.
pub struct Caller {
    pub client: ClientInfo,
    pub provenance: Provenance,
    pub uri: Uri,
    pub headers: HeaderMap,
}

impl Caller {
    pub fn requester(&self) -> Requester<'_> {
        Requester {
            client: &self.client,
            headers: &self.headers,
            provenance: &self.provenance,
        }
    }

    /// The origin the browser used (WebAuthn's origin).
    pub fn served_origin(&self) -> Option<Url> {
        served_origin(&self.uri, &self.headers, self.client.https)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = axum::response::Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let client = ClientInfo::from_request_parts(parts, state).await?;
        let Ok(provenance) = Provenance::from_request_parts(parts, state).await;
        Ok(Self {
            client,
            provenance,
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
        })
    }
}

/// The origin a request's browser used: the scheme it came over and the
/// authority it addressed (host and port, as `Origin` would say them).
pub fn served_origin(uri: &Uri, headers: &HeaderMap, https: bool) -> Option<Url> {
    let scheme = if https { "https" } else { "http" };
    let origin = Url::parse(&format!("{scheme}://{}", authority(uri, headers)?)).ok()?;
    // An authority with a path, user or query is no origin.
    (origin.path() == "/" && origin.username().is_empty() && origin.query().is_none()).then_some(origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(host: &str, https: bool) -> Option<String> {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::HOST, host.parse().unwrap());
        served_origin(&Uri::from_static("/login"), &headers, https)
            .map(|url| url.origin().ascii_serialization())
    }

    #[test]
    fn the_origin_is_the_scheme_and_the_authority() {
        assert_eq!(
            origin("localhost:8080", false).as_deref(),
            Some("http://localhost:8080")
        );
        assert_eq!(
            origin("api.example.com", true).as_deref(),
            Some("https://api.example.com")
        );
        assert_eq!(
            origin("api.example.com:443", true).as_deref(),
            Some("https://api.example.com")
        );
        assert_eq!(origin("user@evil.example", true), None);
        assert_eq!(origin("a b", true), None);
    }
}
