//! Forward-auth (SPEC section 6, "Gateway, continued"): a proxy that stays
//! in front (nginx `auth_request`, Caddy `forward_auth`, Traefik
//! `ForwardAuth`) asks before it forwards a request, and forwards it itself.
//! The question is a `GET` whose headers are the caller's (`Cookie`,
//! `Authorization`, `Origin`, `X-CSRF-Token`), plus the original request's
//! method and URI in the proxy's own headers. The route table decides as
//! for a request rampart forwards: the same normal paths, access rules,
//! second factor, rate limits and CSRF rules, in the same order as the
//! envelope's (authentication, the rate limit, CSRF, then the route's
//! rule).
//!
//! The envelope has authenticated the question already: its credentials
//! are the caller's. What it could not do, knowing only `/forward-auth`, is
//! done here for the original request.

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header, uri::PathAndQuery};

use super::{
    Gateway,
    headers::{X_RAMPART_ASSERTION, X_RAMPART_ROLES, X_RAMPART_USER},
    path,
};
use crate::{
    auth::{assertion::Caller, csrf::Binding},
    http::{
        client::ClientInfo,
        context::RequestContext,
        credentials::{Authentication, CurrentUser},
        csrf::{self, CSRF_HEADER},
        detail::detail_response,
        identity::AuthRejection,
        limited, provenance,
        rate_limit::{Admission, RateLimitStep},
        resolve::host_of,
    },
};

/// Where a 401 sends a browser: the sign-in page, with the way back.
pub const X_RAMPART_LOGIN: HeaderName = HeaderName::from_static("x-rampart-login");

/// The original request's method and URI, as each proxy names them:
/// Caddy and Traefik `X-Forwarded-Method` and `X-Forwarded-Uri`, nginx
/// (by the README's configuration) `X-Original-Method` and
/// `X-Original-URI`. A proxy that sets one pair passes a client's own
/// other pair along: both present and different is refused.
const METHOD_HEADERS: [&str; 2] = ["x-forwarded-method", "x-original-method"];
const URI_HEADERS: [&str; 2] = ["x-forwarded-uri", "x-original-uri"];

/// The request the proxy asks about.
#[derive(Debug, PartialEq, Eq)]
pub struct Original {
    pub method: Method,
    pub path_and_query: PathAndQuery,
    /// The authority it was sent to, as the proxy names it.
    pub authority: Option<String>,
    /// That authority's host, without the port: what routes match.
    pub host: Option<String>,
}

/// Why the question cannot be answered: 400 with this detail.
#[derive(Debug, PartialEq, Eq)]
pub enum Unreadable {
    /// No original method or URI: the proxy is not configured to send them.
    Missing,
    /// Something other than a method, or than a path and query; or two
    /// headers that name different ones.
    Malformed,
    /// A path that is not in normal form.
    NotNormal,
}

impl Unreadable {
    fn detail(&self) -> &'static str {
        match self {
            Self::Missing => "Missing X-Forwarded-Method or X-Forwarded-Uri",
            Self::Malformed => "Malformed or conflicting X-Forwarded-Method or X-Forwarded-Uri",
            Self::NotNormal => "Path not in normal form",
        }
    }
}

/// The one value the proxy gave under `names`: none, or more than one
/// that differ (a client's own header next to the proxy's, which one name
/// alone would have let through), is `None` or [`Unreadable::Malformed`].
fn one<'a>(headers: &'a HeaderMap, names: &[&str]) -> Result<Option<&'a HeaderValue>, Unreadable> {
    let mut found: Option<&HeaderValue> = None;
    for value in names.iter().flat_map(|name| headers.get_all(*name)) {
        match found {
            Some(seen) if seen != value => return Err(Unreadable::Malformed),
            _ => found = Some(value),
        }
    }
    Ok(found)
}

impl Original {
    /// Reads the original request from the question's headers. Its host:
    /// `X-Forwarded-Host` (the question comes from a trusted proxy), else
    /// the question's own `Host`, which nginx keeps as the client sent it
    /// when told to.
    pub fn read(headers: &HeaderMap) -> Result<Self, Unreadable> {
        let (Some(method), Some(uri)) = (one(headers, &METHOD_HEADERS)?, one(headers, &URI_HEADERS)?) else {
            return Err(Unreadable::Missing);
        };
        let method = Method::from_bytes(method.as_bytes()).map_err(|_| Unreadable::Malformed)?;
        // A path and query (origin-form), never a scheme and authority.
        let path_and_query = PathAndQuery::try_from(uri.as_bytes()).map_err(|_| Unreadable::Malformed)?;
        if !uri.as_bytes().starts_with(b"/") || uri.as_bytes().contains(&b'#') {
            return Err(Unreadable::Malformed);
        }
        path::check(path_and_query.path()).map_err(|_| Unreadable::NotNormal)?;
        let authority = headers
            .get("x-forwarded-host")
            .or_else(|| headers.get(header::HOST))
            .and_then(|host| host.to_str().ok())
            .map(|host| host.split(',').next().unwrap_or_default().trim().to_owned());
        let host = authority
            .as_deref()
            .map(|authority| host_of(authority).to_owned());
        Ok(Self {
            method,
            path_and_query,
            authority,
            host,
        })
    }

    /// `{own_prefix}/login?return_to=<the original path and query>`.
    pub fn login_link(&self, own_prefix: &str) -> String {
        let back: String = form_urlencoded::byte_serialize(self.path_and_query.as_str().as_bytes()).collect();
        format!("{own_prefix}/login?return_to={back}")
    }
}

impl Gateway {
    /// The answer to a forward-auth question (the envelope has run): 200
    /// with the identity and an assertion for the proxy to pass on, or the
    /// refusal the route table gives the original request.
    pub async fn forward_auth(
        &self,
        question: &http::request::Parts,
        limits: &RateLimitStep,
        own_prefix: &str,
    ) -> Response {
        let original = match Original::read(&question.headers) {
            Ok(original) => original,
            Err(why) => return detail_response(StatusCode::BAD_REQUEST, why.detail()),
        };
        let routing = self.routing();
        let Some(route) = routing.table.find(
            &original.method,
            original.path_and_query.path(),
            original.host.as_deref(),
        ) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let Some(context) = RequestContext::of(&question.extensions) else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let login = || original.login_link(own_prefix);
        let with_login = |mut response: Response| {
            if response.status() == StatusCode::UNAUTHORIZED
                && let Ok(link) = HeaderValue::from_str(&login())
            {
                response.headers_mut().insert(X_RAMPART_LOGIN, link);
            }
            response
        };
        let authentication = &context.authentication;
        if let Authentication::Invalid(_) = authentication {
            return with_login(AuthRejection::Invalid.into_response());
        }
        let user = authentication.user();
        let decision = match limits
            .admit(Some(route.policy), authentication, &context.id, &context.client)
            .await
        {
            Admission::Refused(response) => return response,
            Admission::Allowed(decision) => Some(decision),
            Admission::Unlimited => None,
        };
        let provenance = provenance::of(&question.extensions);
        if let Authentication::Session(session) = authentication
            && let Err(failure) = self.csrf_of(&original, question, session, context.client)
        {
            return csrf::refuse(
                failure,
                &self.gate.audit,
                user.as_ref().map(CurrentUser::username),
                Some(&route.label),
                &provenance,
            );
        }
        if let Some(refusal) = self.refusal(route, user.as_ref(), || provenance) {
            return with_login(refusal);
        }
        let caller = user.as_ref().map(|user| Caller {
            username: user.username(),
            roles: user.roles(),
            amr: user.amr(),
        });
        let assertion = match routing.forward_auth.sign(
            caller,
            original.method.as_str(),
            original.path_and_query.as_str(),
        ) {
            Ok(assertion) => assertion,
            Err(err) => {
                tracing::error!(error = %err, "signing a forward-auth assertion failed");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        };
        let mut response = StatusCode::OK.into_response();
        let headers = response.headers_mut();
        if let Some(user) = &user {
            for (name, value) in [
                (X_RAMPART_USER, user.username().to_owned()),
                (X_RAMPART_ROLES, user.roles().join(",")),
            ] {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            }
        }
        if let Ok(value) = HeaderValue::from_str(&assertion) {
            headers.insert(X_RAMPART_ASSERTION, value);
        }
        if let Some(decision) = &decision {
            limited::stamp_allowed(headers, decision);
        }
        response
    }

    /// The CSRF rules for a cookie-authenticated original request: its
    /// method, its host (for the `Origin` check), and the token in the
    /// question's `X-CSRF-Token` (the proxy sends no body).
    fn csrf_of(
        &self,
        original: &Original,
        question: &http::request::Parts,
        session: &crate::auth::session::SessionUser,
        client: ClientInfo,
    ) -> Result<(), csrf::CsrfFailure> {
        if csrf::is_safe(&original.method) {
            return Ok(());
        }
        let scheme = if client.https { "https" } else { "http" };
        let uri = original
            .authority
            .as_deref()
            .and_then(|authority| {
                Uri::builder()
                    .scheme(scheme)
                    .authority(authority)
                    .path_and_query("/")
                    .build()
                    .ok()
            })
            .unwrap_or_default();
        let sent = question
            .headers
            .get(CSRF_HEADER)
            .and_then(|value| value.to_str().ok());
        self.gate.csrf.verify(
            &uri,
            &question.headers,
            sent,
            Binding::session(&session.id),
            client.https,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn each_proxys_headers_name_the_original_request() {
        let caddy = Original::read(&headers(&[
            ("x-forwarded-method", "POST"),
            ("x-forwarded-uri", "/notes/?a=1"),
            ("x-forwarded-host", "api.example:8443"),
            ("host", "127.0.0.1:9000"),
        ]))
        .unwrap();
        assert_eq!(caddy.method, Method::POST);
        assert_eq!(caddy.path_and_query.as_str(), "/notes/?a=1");
        assert_eq!(caddy.host.as_deref(), Some("api.example"));
        let nginx = Original::read(&headers(&[
            ("x-original-method", "GET"),
            ("x-original-uri", "/me"),
            ("host", "app.example"),
        ]))
        .unwrap();
        assert_eq!(nginx.method, Method::GET);
        assert_eq!(nginx.host.as_deref(), Some("app.example"));
    }

    #[test]
    fn questions_that_do_not_say_what_they_ask_are_refused() {
        assert_eq!(
            Original::read(&headers(&[("x-forwarded-uri", "/me")])),
            Err(Unreadable::Missing)
        );
        for uri in ["http://evil.example/me", "me", "/a#b"] {
            assert_eq!(
                Original::read(&headers(&[
                    ("x-forwarded-method", "GET"),
                    ("x-forwarded-uri", uri)
                ])),
                Err(Unreadable::Malformed),
                "{uri}"
            );
        }
        for uri in ["/a/../admin", "/%61dmin", "/a//b"] {
            assert_eq!(
                Original::read(&headers(&[
                    ("x-forwarded-method", "GET"),
                    ("x-forwarded-uri", uri)
                ])),
                Err(Unreadable::NotNormal),
                "{uri}"
            );
        }
    }

    #[test]
    fn a_clients_own_header_beside_the_proxys_is_refused_not_believed() {
        // nginx sets X-Original-URI and passes the client's X-Forwarded-Uri.
        let spoofed = headers(&[
            ("x-original-method", "GET"),
            ("x-original-uri", "/admin/stats"),
            ("x-forwarded-uri", "/public/hello"),
        ]);
        assert_eq!(Original::read(&spoofed), Err(Unreadable::Malformed));
        let twice = headers(&[
            ("x-forwarded-method", "GET"),
            ("x-forwarded-method", "POST"),
            ("x-forwarded-uri", "/a"),
        ]);
        assert_eq!(Original::read(&twice), Err(Unreadable::Malformed));
        let agreeing = headers(&[
            ("x-original-method", "GET"),
            ("x-forwarded-method", "GET"),
            ("x-original-uri", "/a"),
            ("x-forwarded-uri", "/a"),
        ]);
        assert!(Original::read(&agreeing).is_ok());
    }

    #[test]
    fn the_login_link_carries_the_way_back() {
        let original = Original::read(&headers(&[
            ("x-original-method", "GET"),
            ("x-original-uri", "/notes/?tag=a&b=c d"),
        ]));
        // A space cannot be in a URI at all.
        assert_eq!(original, Err(Unreadable::Malformed));
        let original = Original::read(&headers(&[
            ("x-original-method", "GET"),
            ("x-original-uri", "/notes/?tag=a&b=c"),
        ]))
        .unwrap();
        assert_eq!(
            original.login_link("/auth"),
            "/auth/login?return_to=%2Fnotes%2F%3Ftag%3Da%26b%3Dc"
        );
    }
}
