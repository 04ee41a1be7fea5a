//! The gateway's routes: the configured ones in their order, then those of
//! each upstream's OpenAPI document; the first whose path, method and host
//! match a request wins, and a request none matches is never forwarded.

use std::sync::Arc;

use http::Method;

use super::target::Target;
use crate::{
    auth::Principal,
    config::gateway::{Access, RouteSettings, RouteTemplate, Segment},
    http::credentials::CurrentUser,
    ratelimit::PolicyName,
};

/// One route.
#[derive(Debug)]
pub struct Route {
    pub template: RouteTemplate,
    /// The template, shared with every request's log line.
    pub label: Arc<str>,
    /// `None`: every method.
    pub methods: Option<Vec<Method>>,
    pub access: Access,
    pub policy: PolicyName,
    /// Where it forwards to; `None`: nowhere (forward-auth only).
    pub target: Option<Arc<Target>>,
    /// A caller needs a second factor (`amr`).
    pub mfa: bool,
}

/// What a route says of a caller.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// No caller, and the route needs one: 401.
    Unauthenticated,
    /// A caller without the roles: 403.
    Forbidden,
    /// A caller without a second factor on an `mfa` route: 403.
    SecondFactorRequired,
}

impl Route {
    /// A route to `target` that needs no second factor.
    pub fn new(
        template: RouteTemplate,
        methods: Option<Vec<Method>>,
        access: Access,
        policy: PolicyName,
        target: Option<Arc<Target>>,
    ) -> Self {
        Self {
            label: template.as_str().into(),
            template,
            methods,
            access,
            policy,
            target,
            mfa: false,
        }
    }

    /// A `[[gateway.routes]]` entry; `policy`: its own, or the default.
    pub fn configured(settings: &RouteSettings, policy: PolicyName, target: Option<Arc<Target>>) -> Self {
        let methods =
            (!settings.methods.is_empty()).then(|| settings.methods.iter().map(|m| m.0.clone()).collect());
        Self {
            mfa: settings.mfa,
            ..Self::new(
                settings.path.clone(),
                methods,
                settings.access.clone(),
                policy,
                target,
            )
        }
    }

    /// Whether a request for `host` may take this route: its upstream
    /// answers any host, or this one.
    fn admits_host(&self, host: Option<&str>) -> bool {
        self.target.as_ref().is_none_or(|target| target.serves(host))
    }

    fn admits_method(&self, method: &Method) -> bool {
        let Some(methods) = &self.methods else {
            return true;
        };
        // HEAD goes with GET.
        methods.contains(method) || (method == Method::HEAD && methods.contains(&Method::GET))
    }

    fn matches_path(&self, path: &str) -> bool {
        let mut parts = path.strip_prefix('/').unwrap_or(path).split('/');
        let segments = self.template.segments();
        for segment in segments {
            match segment {
                // The rest (always last): whatever follows the `/` before
                // it, even nothing; but that `/` is there.
                Segment::Rest => return parts.next().is_some(),
                Segment::Param => match parts.next() {
                    Some(part) if !part.is_empty() => {}
                    _ => return false,
                },
                Segment::Literal(literal) => {
                    if parts.next() != Some(literal.as_str()) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }

    /// Whether `caller` may pass: the access rule, then the route's
    /// second factor.
    pub fn admit(&self, caller: Option<&CurrentUser>) -> Verdict {
        match admits(&self.access, caller) {
            Verdict::Pass if self.mfa => match caller {
                Some(user) if user.amr().is_multi_factor() => Verdict::Pass,
                Some(_) => Verdict::SecondFactorRequired,
                None => Verdict::Unauthenticated,
            },
            verdict => verdict,
        }
    }
}

/// Whether `caller` may pass `access`: at a request, and again whenever a
/// tunnel re-checks the credential that opened it.
pub fn admits<P: Principal + ?Sized>(access: &Access, caller: Option<&P>) -> Verdict {
    match (access, caller) {
        (Access::Public, _) => Verdict::Pass,
        (_, None) => Verdict::Unauthenticated,
        (Access::Authenticated, Some(_)) => Verdict::Pass,
        (Access::Roles(alternatives), Some(user)) => {
            let holds_all = |roles: &Vec<String>| roles.iter().all(|role| user.has_role(role));
            if alternatives.iter().any(holds_all) {
                Verdict::Pass
            } else {
                Verdict::Forbidden
            }
        }
    }
}

/// The routes, in the order they are tried.
#[derive(Debug, Default)]
pub struct Table {
    routes: Vec<Arc<Route>>,
}

impl Table {
    pub fn new(routes: Vec<Route>) -> Self {
        Self {
            routes: routes.into_iter().map(Arc::new).collect(),
        }
    }

    /// The first route that matches; `path` must be normal
    /// ([`super::path::check`]); `host`: the request's, without its port.
    pub fn find(&self, method: &Method, path: &str, host: Option<&str>) -> Option<&Arc<Route>> {
        self.routes
            .iter()
            .find(|route| route.admits_method(method) && route.matches_path(path) && route.admits_host(host))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter().map(|route| &**route)
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: &str, methods: &[Method]) -> Route {
        Route::new(
            path.parse().unwrap(),
            (!methods.is_empty()).then(|| methods.to_vec()),
            Access::Public,
            PolicyName::Default,
            None,
        )
    }

    #[test]
    fn paths_match_their_templates_segment_by_segment() {
        let item = route("/items/{id}", &[]);
        assert!(item.matches_path("/items/3"));
        assert!(!item.matches_path("/items/"));
        assert!(!item.matches_path("/items"));
        assert!(!item.matches_path("/items/3/x"));
        let list = route("/items/", &[]);
        assert!(list.matches_path("/items/"));
        assert!(!list.matches_path("/items"));
        let rest = route("/files/{*rest}", &[]);
        assert!(rest.matches_path("/files/"));
        assert!(rest.matches_path("/files/a/b/"));
        assert!(!rest.matches_path("/files"));
        assert!(!rest.matches_path("/filesx/a"));
        let root = route("/", &[]);
        assert!(root.matches_path("/"));
        assert!(!root.matches_path("/a"));
        let literal = route("/reports", &[]);
        assert!(literal.matches_path("/reports"));
        assert!(!literal.matches_path("/Reports"));
        assert!(!literal.matches_path("/reports/"));
    }

    #[test]
    fn the_first_route_whose_method_and_path_match_wins() {
        let table = Table::new(vec![
            route("/items/{id}", &[Method::DELETE]),
            route("/items/{id}", &[Method::GET]),
            route("/{*rest}", &[]),
        ]);
        let found = |method: &Method, path: &str| {
            let route = table.find(method, path, None)?;
            table.routes.iter().position(|r| Arc::ptr_eq(r, route))
        };
        assert_eq!(found(&Method::GET, "/items/1"), Some(1));
        assert_eq!(found(&Method::HEAD, "/items/1"), Some(1));
        assert_eq!(found(&Method::DELETE, "/items/1"), Some(0));
        assert_eq!(found(&Method::PUT, "/items/1"), Some(2));
        let strict = Table::new(vec![route("/a", &[Method::POST])]);
        assert!(strict.find(&Method::GET, "/a", None).is_none());
    }
}
