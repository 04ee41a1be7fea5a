//! CSRF defence for requests the session cookie authenticates (OWASP CSRF
//! Prevention cheat sheet), in two layers, both required:
//!
//! 1. Where the browser says the request comes from: `Sec-Fetch-Site:
//!    cross-site`, or an `Origin` that is neither this server's nor in
//!    `cors.allow_origins`, is refused outright.
//! 2. The signed double-submit token ([`crate::auth::csrf`]): an unsafe
//!    method needs `X-CSRF-Token` (or, for a form, the field `csrf_token`)
//!    equal to the CSRF cookie and issued for this session.
//!
//! Requests with a bearer token are exempt: a browser never attaches one
//! by itself, so a forged request cannot carry it.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::Request,
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};

use super::{client::authority, cookies, cors::Cors, credentials::SessionCookie, detail::detail_response};
use crate::{
    audit::{Action, Auditor, Outcome, Provenance},
    auth::csrf::{Binding, CsrfKey, matches, new_presession},
};

pub const CSRF_HEADER: HeaderName = HeaderName::from_static("x-csrf-token");
/// The form field that carries the token in a plain HTML form.
pub const CSRF_FIELD: &str = "csrf_token";

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsrfFailure {
    /// The browser marked it as coming from another site.
    CrossSite,
    /// The token is missing, differs from the cookie, or is not this
    /// session's.
    Token,
    /// The form body that should carry the token is over
    /// `limits.max_body_bytes`.
    TooLarge,
}

/// What a refusal answers: 403, or 413 for a form too large to read.
fn answer(failure: CsrfFailure) -> Response {
    let detail = match failure {
        CsrfFailure::CrossSite => "Cross-site request refused",
        CsrfFailure::Token => "CSRF token missing or invalid",
        // A bare 413: the envelope gives it the spec's body.
        CsrfFailure::TooLarge => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    detail_response(StatusCode::FORBIDDEN, detail)
}

/// The CSRF rules, built once from the settings and the secret.
#[derive(Clone, Debug)]
pub struct CsrfGuard {
    key: CsrfKey,
    cors: Arc<Cors>,
    max_body: usize,
}

impl CsrfGuard {
    pub fn new(key: CsrfKey, cors: Arc<Cors>, max_body: usize) -> Self {
        Self { key, cors, max_body }
    }

    /// The CSRF token for `binding` and the cookie that carries it: the one
    /// the browser holds while it is still valid for this binding, so forms
    /// in other tabs keep working; a fresh one otherwise.
    pub fn token(&self, headers: &HeaderMap, binding: Binding, https: bool) -> (String, HeaderValue) {
        let name = cookies::names(https).csrf;
        let token = match cookies::get(headers, name) {
            Some(held) if self.key.verify(held, binding) => held.to_owned(),
            _ => self.key.issue(binding),
        };
        let cookie = cookies::set(name, &token, https);
        (token, cookie)
    }

    /// The token of a page without a live session (the sign-in form,
    /// `GET /csrftoken/`), and its cookies: the pre-session nonce's too
    /// when the browser had none.
    pub fn pre_login_token(
        &self,
        session: Option<&SessionCookie>,
        headers: &HeaderMap,
        https: bool,
    ) -> (String, Vec<HeaderValue>) {
        let (binding, presession) = pre_login_binding(session, headers, https);
        let (token, cookie) = self.token(headers, binding, https);
        (token, presession.into_iter().chain([cookie]).collect())
    }

    /// Layer 1: the browser says the request comes from another site.
    /// `authority` is the request's own ([`authority`]).
    pub fn cross_site(&self, headers: &HeaderMap, authority: Option<&str>, https: bool) -> bool {
        if headers
            .get("sec-fetch-site")
            .is_some_and(|site| site.as_bytes().eq_ignore_ascii_case(b"cross-site"))
        {
            return true;
        }
        let Some(origin) = headers.get(header::ORIGIN) else {
            // No `Origin` (an old browser, or not a browser): the token
            // decides.
            return false;
        };
        if origin.as_bytes() == b"null" {
            // Browsers send `Origin: null` for a form posted from a page
            // under `Referrer-Policy: no-referrer`, which every rampart page
            // is (SPEC section 3): it says nothing about where the request
            // comes from. `Sec-Fetch-Site` above and the token decide.
            return false;
        }
        !(is_own_origin(origin.as_bytes(), authority, https) || self.cors.allows(origin))
    }

    /// Where a request's `Origin` stands, for checks that need one (the
    /// WebSocket upgrade: ASVS 5.0 4.4.2).
    pub fn origin_standing(
        &self,
        headers: &HeaderMap,
        authority: Option<&str>,
        https: bool,
    ) -> OriginStanding {
        match headers.get(header::ORIGIN) {
            None => OriginStanding::Missing,
            Some(origin) if is_own_origin(origin.as_bytes(), authority, https) => OriginStanding::Own,
            Some(origin) if self.cors.lists(origin) => OriginStanding::Listed,
            Some(origin) if self.cors.allows(origin) => OriginStanding::Wildcard,
            Some(_) => OriginStanding::Foreign,
        }
    }

    /// Both layers, with the token `sent` in the request.
    pub fn verify(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
        sent: Option<&str>,
        binding: Binding,
        https: bool,
    ) -> Result<(), CsrfFailure> {
        if self.cross_site(headers, authority(uri, headers), https) {
            return Err(CsrfFailure::CrossSite);
        }
        let cookie = cookies::get(headers, cookies::names(https).csrf);
        match (sent, cookie) {
            (Some(sent), Some(cookie)) if matches(&self.key, sent, cookie, binding) => Ok(()),
            _ => Err(CsrfFailure::Token),
        }
    }

    /// Checks a form posted before sign-in (the login and first-run forms),
    /// whose token is bound to the browser's pre-session nonce (login CSRF:
    /// no session yet, so the envelope has checked nothing).
    pub fn verify_pre_login(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
        session: Option<&SessionCookie>,
        sent: Option<&str>,
        https: bool,
    ) -> Result<(), CsrfFailure> {
        let (binding, _) = pre_login_binding(session, headers, https);
        self.verify(uri, headers, sent, binding, https)
    }

    /// Checks a request the session cookie authenticates. Safe methods
    /// pass; for an unsafe one the token comes from `X-CSRF-Token`, or from
    /// the `csrf_token` field of a form body (read here, and put back).
    pub async fn check(
        &self,
        request: Request,
        binding: Binding,
        https: bool,
    ) -> (Request, Result<(), CsrfFailure>) {
        if is_safe(request.method()) {
            return (request, Ok(()));
        }
        if let Some(sent) = request.headers().get(CSRF_HEADER) {
            let result = self.verify(
                request.uri(),
                request.headers(),
                sent.to_str().ok(),
                binding,
                https,
            );
            return (request, result);
        }
        if !is_form(request.headers()) {
            let result = self.verify(request.uri(), request.headers(), None, binding, https);
            return (request, result);
        }
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, self.max_body).await else {
            return (
                Request::from_parts(parts, Body::empty()),
                Err(CsrfFailure::TooLarge),
            );
        };
        let sent = form_urlencoded::parse(&bytes)
            .find(|(key, _)| key == CSRF_FIELD)
            .map(|(_, value)| value.into_owned());
        let result = self.verify(&parts.uri, &parts.headers, sent.as_deref(), binding, https);
        (Request::from_parts(parts, Body::from(bytes)), result)
    }
}

/// What the CSRF token of a request without a live session is bound to:
/// the session its cookie names, if any, else the browser's pre-session
/// nonce; with the cookie of a new nonce when the browser has none.
pub fn pre_login_binding(
    session: Option<&SessionCookie>,
    headers: &HeaderMap,
    https: bool,
) -> (Binding, Option<HeaderValue>) {
    let names = cookies::names(https);
    if let Some(SessionCookie(session)) = session {
        return (Binding::session(session), None);
    }
    match cookies::get(headers, names.presession) {
        Some(nonce) => (Binding::presession(nonce), None),
        None => {
            let nonce = new_presession();
            (
                Binding::presession(&nonce),
                Some(cookies::set(names.presession, &nonce, https)),
            )
        }
    }
}

/// The 403 for a refusal, audited as `csrf_rejected` (the one place both
/// the envelope and the sign-in form refuse).
pub fn refuse(
    failure: CsrfFailure,
    audit: &Auditor,
    actor: Option<&str>,
    route: Option<&str>,
    provenance: &Provenance,
) -> Response {
    audit.record(Action::CsrfRejected, Outcome::Denied, actor, route, provenance);
    answer(failure)
}

/// RFC 9110 section 9.2.1.
pub fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/x-www-form-urlencoded"))
}

/// Where a request's `Origin` stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OriginStanding {
    /// No `Origin` header (not a browser, or an old one).
    Missing,
    /// This server, as the request addressed it.
    Own,
    /// Named in `cors.allow_origins`.
    Listed,
    /// Allowed only by `cors.allow_origins = ["*"]`, which lets any site
    /// read but never with credentials.
    Wildcard,
    /// Anything else (`null` included).
    Foreign,
}

/// Whether `origin` is this server as the request addressed it:
/// `http(s)://` + its authority.
fn is_own_origin(origin: &[u8], authority: Option<&str>, https: bool) -> bool {
    let Some(host) = authority else {
        return false;
    };
    let scheme: &[u8] = if https { b"https://" } else { b"http://" };
    origin.len() == scheme.len() + host.len()
        && origin[..scheme.len()].eq_ignore_ascii_case(scheme)
        && origin[scheme.len()..].eq_ignore_ascii_case(host.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CorsSettings;

    fn guard(allowed: &[&str]) -> CsrfGuard {
        let settings = CorsSettings {
            allow_origins: allowed.iter().map(|o| o.parse().unwrap()).collect(),
            ..CorsSettings::default()
        };
        CsrfGuard::new(
            CsrfKey::new(&crate::config::secret::SecretKey::generate()),
            Arc::new(Cors::new(&settings)),
            1024,
        )
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn cross_site_by_fetch_metadata_or_foreign_origin() {
        let guard = guard(&["https://app.example.com"]);
        let host = ("host", "api.example.com");
        let own = Some("api.example.com");
        assert!(guard.cross_site(&headers(&[host, ("sec-fetch-site", "cross-site")]), own, true));
        assert!(!guard.cross_site(&headers(&[host, ("sec-fetch-site", "same-origin")]), own, true));
        assert!(!guard.cross_site(
            &headers(&[host, ("origin", "https://api.example.com")]),
            own,
            true
        ));
        assert!(guard.cross_site(&headers(&[host, ("origin", "http://api.example.com")]), own, true));
        assert!(!guard.cross_site(
            &headers(&[host, ("origin", "https://app.example.com")]),
            own,
            true
        ));
        assert!(guard.cross_site(
            &headers(&[host, ("origin", "https://evil.example.net")]),
            own,
            true
        ));
        // `null` is what our own pages' forms send (no-referrer).
        assert!(!guard.cross_site(
            &headers(&[host, ("origin", "null"), ("sec-fetch-site", "same-origin")]),
            own,
            true
        ));
        assert!(guard.cross_site(
            &headers(&[host, ("origin", "null"), ("sec-fetch-site", "cross-site")]),
            own,
            true
        ));
        assert!(!guard.cross_site(&headers(&[host]), own, true));
    }

    #[test]
    fn origins_stand_as_own_listed_wildcard_or_foreign() {
        let own = Some("api.example.com");
        let listed = guard(&["https://app.example.com"]);
        let standing = |guard: &CsrfGuard, origin: &str| {
            guard.origin_standing(&headers(&[("origin", origin)]), own, true)
        };
        assert_eq!(
            listed.origin_standing(&headers(&[]), own, true),
            OriginStanding::Missing
        );
        assert_eq!(standing(&listed, "https://api.example.com"), OriginStanding::Own);
        // The scheme is part of the origin.
        assert_eq!(
            standing(&listed, "http://api.example.com"),
            OriginStanding::Foreign
        );
        assert_eq!(
            standing(&listed, "https://app.example.com"),
            OriginStanding::Listed
        );
        assert_eq!(standing(&listed, "https://evil.example"), OriginStanding::Foreign);
        assert_eq!(standing(&listed, "null"), OriginStanding::Foreign);
        let any = guard(&["*"]);
        assert_eq!(standing(&any, "https://evil.example"), OriginStanding::Wildcard);
    }

    #[test]
    fn the_own_authority_is_the_targets_else_host() {
        let h2: Uri = "https://api.example.com/items/".parse().unwrap();
        let h1: Uri = "/items/".parse().unwrap();
        let none = HeaderMap::new();
        let host = headers(&[("host", "api.example.com:8443")]);
        assert_eq!(authority(&h2, &none), Some("api.example.com"));
        assert_eq!(authority(&h2, &host), Some("api.example.com"));
        assert_eq!(authority(&h1, &host), Some("api.example.com:8443"));
        assert_eq!(authority(&h1, &none), None);
    }
}
