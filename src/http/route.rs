//! Which route a request is for, found once, before the envelope's steps:
//! its template (for the access log, metrics and audit events), its
//! rate-limit policy, its deadline, and whether its answers are private
//! whoever asks. The router states its routes' rules ([`OwnRules`]); the
//! gateway's routes carry theirs ([`super::resolve::ResolvedRoute`]).
//!
//! The envelope wraps the router as a whole rather than each of its routes:
//! a layer applied per route costs every request two more boxed services
//! to clone and two more futures to box. The router's own match is only
//! known inside the router, after the rate limit must have run, so the
//! envelope matches the path against a [`RouteTable`] of the same templates
//! first, with the matcher axum itself routes with (matchit), and axum
//! routes the request again below (a lookup costs far less than the
//! per-route layer it spares). The table is built
//! from the templates the router was built from ([`Templates`]), so the two
//! cannot disagree.

use std::{sync::Arc, time::Duration};

use http::Method;

use super::resolve::{ResolvedRoute, RouteResolver};
use crate::ratelimit::{PolicyName, PolicyTable};

/// The templates of a router's routes, gathered as the router is built.
#[derive(Clone, Debug, Default)]
pub struct Templates(Vec<String>);

impl Templates {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a route's template, exactly as given to the router.
    pub fn add(&mut self, template: impl Into<String>) {
        self.0.push(template.into());
    }

    /// The templates of a router nested at `prefix`, as axum rewrites them
    /// (`axum::routing::path_router::path_for_nested_route`).
    pub fn nested(self, prefix: &str) -> Self {
        Self(
            self.0
                .into_iter()
                .map(|path| {
                    if prefix.ends_with('/') {
                        format!("{prefix}{}", path.trim_start_matches('/'))
                    } else if path == "/" {
                        prefix.to_owned()
                    } else {
                        format!("{prefix}{path}")
                    }
                })
                .collect(),
        )
    }
}

impl IntoIterator for Templates {
    type Item = String;
    type IntoIter = std::vec::IntoIter<String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl Extend<String> for Templates {
    fn extend<I: IntoIterator<Item = String>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

/// A request's route, as far as the envelope needs it.
#[derive(Clone, Debug)]
pub struct Route {
    /// The route's template; `None`: no route matched.
    pub template: Option<Arc<str>>,
    /// The rate-limit policy; `None`: unlimited (the probes).
    pub policy: Option<PolicyName>,
    /// How long the steps and the handler may take in all.
    pub deadline: Duration,
    pub properties: Properties,
}

/// What a route is, beyond its template and its limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Properties {
    /// Every answer is private, whoever asks: never stored by a cache.
    pub private: bool,
    /// A credential good for second-factor enrolment only may call it
    /// (SPEC section 7).
    pub enrolment: bool,
    /// A caller whom `auth.mfa` covers needs `mfa` in their credential.
    pub needs_mfa: bool,
}

/// What the router says of its own routes, by their templates without
/// `gateway.own_prefix`.
#[derive(Clone, Copy, Debug)]
pub struct OwnRules {
    /// Which rate-limit policy a request falls under.
    pub policy_for: PolicyTable,
    /// Paths under which every answer is private, whoever asks: each path
    /// and everything below it, the routes and the 404s between them.
    pub private_areas: &'static [&'static str],
    /// Areas (a path and everything below it) that a credential for
    /// second-factor enrolment only may call.
    pub enrolment_areas: &'static [&'static str],
    /// Routes such a credential may call that are not areas (their
    /// handlers send it on).
    pub enrolment_routes: &'static [&'static str],
    /// Areas that need `mfa` of a caller whom `auth.mfa` covers.
    pub mfa_areas: &'static [&'static str],
}

/// What a path of the table leads to: a route of the router's, or (no
/// template) a private area's path that no route of the router's holds.
struct Entry {
    template: Option<Arc<str>>,
    properties: Properties,
}

/// Matches a request to a route of the router's, else of a resolver's.
pub struct RouteTable {
    paths: matchit::Router<Entry>,
    policy_for: PolicyTable,
    /// `gateway.own_prefix`, which the policy table's templates do not
    /// carry.
    own_prefix: String,
    /// Routes the router does not hold (the gateway's), if any.
    resolver: Option<Arc<dyn RouteResolver>>,
    /// `limits.request_timeout`, the deadline of the router's routes.
    request_timeout: Duration,
}

/// What a [`RouteTable`] is built from, besides the templates.
#[derive(Clone)]
pub struct RouteRules {
    pub own: OwnRules,
    pub own_prefix: String,
    pub resolver: Option<Arc<dyn RouteResolver>>,
    pub request_timeout: Duration,
}

impl RouteTable {
    /// # Panics
    /// On a template the router would have refused as well (a conflict or
    /// a malformed parameter): routes are fixed at start.
    pub fn new(templates: Templates, rules: RouteRules) -> Self {
        let prefix = rules.own_prefix.as_str();
        let in_area = |path: &str, area: &str| {
            own_path(prefix, path).is_some_and(|own| {
                own.strip_prefix(area)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
        };
        let properties = |path: &str| {
            let within = |areas: &[&str]| areas.iter().any(|area| in_area(path, area));
            Properties {
                private: within(rules.own.private_areas),
                enrolment: within(rules.own.enrolment_areas)
                    || own_path(prefix, path).is_some_and(|own| rules.own.enrolment_routes.contains(&own)),
                needs_mfa: within(rules.own.mfa_areas),
            }
        };
        let mut paths = matchit::Router::new();
        let mut insert = |path: String, entry: Entry| {
            if let Err(err) = paths.insert(path, entry) {
                panic!("route table: {err}");
            }
        };
        for area in rules.own.private_areas {
            // The area's own path when no route holds it, and a catch-all
            // below it (matchit prefers any route of the router's).
            if !templates
                .0
                .iter()
                .any(|template| template == &format!("{prefix}{area}"))
            {
                let path = format!("{prefix}{area}");
                let properties = properties(&path);
                insert(
                    path,
                    Entry {
                        template: None,
                        properties,
                    },
                );
            }
            let below = format!("{prefix}{area}/");
            let properties = properties(&below);
            insert(
                format!("{below}{{*rest}}"),
                Entry {
                    template: None,
                    properties,
                },
            );
        }
        for template in templates.0 {
            let entry = Entry {
                template: Some(Arc::from(template.as_str())),
                properties: properties(&template),
            };
            insert(template, entry);
        }
        Self {
            paths,
            policy_for: rules.own.policy_for,
            own_prefix: rules.own_prefix,
            resolver: rules.resolver,
            request_timeout: rules.request_timeout,
        }
    }

    /// The route of a request for `path` (exactly as sent); a route of the
    /// resolver's comes with what its handler needs.
    pub fn find<'a>(
        &self,
        method: &Method,
        path: &str,
        host: impl FnOnce() -> Option<&'a str>,
    ) -> (Route, Option<ResolvedRoute>) {
        let area = match self.paths.at(path) {
            Ok(matched) => match &matched.value.template {
                Some(template) => {
                    let route = Route {
                        policy: (self.policy_for)(method, own_path(&self.own_prefix, template)),
                        template: Some(template.clone()),
                        deadline: self.request_timeout,
                        properties: matched.value.properties,
                    };
                    return (route, None);
                }
                // A private area's: private, and nothing more.
                None => Properties {
                    private: matched.value.properties.private,
                    ..Properties::default()
                },
            },
            Err(_) => Properties::default(),
        };
        if let Some(resolved) = self
            .resolver
            .as_ref()
            .and_then(|r| r.resolve(method, path, host().map(super::resolve::host_of)))
        {
            let route = Route {
                template: Some(resolved.template.clone()),
                policy: resolved.policy,
                deadline: resolved.deadline,
                properties: area,
            };
            return (route, Some(resolved));
        }
        let route = Route {
            template: None,
            policy: (self.policy_for)(method, None),
            deadline: self.request_timeout,
            properties: area,
        };
        (route, None)
    }
}

/// A path of rampart's own routes without `gateway.own_prefix`; `None`
/// for a path outside it.
pub fn own_path<'a>(own_prefix: &str, path: &'a str) -> Option<&'a str> {
    if own_prefix.is_empty() {
        return Some(path);
    }
    path.strip_prefix(own_prefix).filter(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(method: &Method, route: Option<&str>) -> Option<PolicyName> {
        match route {
            Some("/healthz") => None,
            Some("/token") if method == Method::POST => Some(PolicyName::Login),
            _ => Some(PolicyName::Default),
        }
    }

    fn table(prefix: &str, templates: &[&str]) -> RouteTable {
        let mut own = Templates::new();
        for template in templates {
            own.add(*template);
        }
        let templates = if prefix.is_empty() {
            own
        } else {
            own.nested(prefix)
        };
        RouteTable::new(
            templates,
            RouteRules {
                own: OwnRules {
                    policy_for: policy,
                    private_areas: &["/token", "/admin"],
                    enrolment_areas: &["/token"],
                    enrolment_routes: &[],
                    mfa_areas: &["/admin"],
                },
                own_prefix: prefix.to_owned(),
                resolver: None,
                request_timeout: Duration::from_secs(7),
            },
        )
    }

    fn template(table: &RouteTable, method: Method, path: &str) -> Option<String> {
        table
            .find(&method, path, || None)
            .0
            .template
            .map(|t| t.to_string())
    }

    #[test]
    fn paths_match_their_templates_exactly() {
        let table = table("", &["/", "/healthz", "/items/", "/items/{id}", "/docs/{file}"]);
        assert_eq!(template(&table, Method::GET, "/").as_deref(), Some("/"));
        assert_eq!(
            template(&table, Method::GET, "/items/7").as_deref(),
            Some("/items/{id}")
        );
        assert_eq!(
            template(&table, Method::GET, "/items/").as_deref(),
            Some("/items/")
        );
        // No trailing-slash leniency, as in axum's router.
        assert_eq!(template(&table, Method::GET, "/items"), None);
        assert_eq!(template(&table, Method::GET, "/healthz/"), None);
        assert_eq!(template(&table, Method::GET, "/items/7/x"), None);
    }

    #[test]
    fn policies_are_the_tables_and_unmatched_paths_get_the_default() {
        let table = table("", &["/healthz", "/token"]);
        assert_eq!(table.find(&Method::GET, "/healthz", || None).0.policy, None);
        assert_eq!(
            table.find(&Method::POST, "/token", || None).0.policy,
            Some(PolicyName::Login)
        );
        assert_eq!(
            table.find(&Method::GET, "/token", || None).0.policy,
            Some(PolicyName::Default)
        );
        let unmatched = table.find(&Method::GET, "/nowhere", || None).0;
        assert_eq!(unmatched.policy, Some(PolicyName::Default));
        assert_eq!(unmatched.deadline, Duration::from_secs(7));
    }

    #[test]
    fn nested_templates_carry_the_prefix_as_axum_writes_them() {
        let table = table("/rampart", &["/", "/healthz", "/token"]);
        assert_eq!(
            template(&table, Method::GET, "/rampart").as_deref(),
            Some("/rampart")
        );
        assert_eq!(
            template(&table, Method::GET, "/rampart/healthz").as_deref(),
            Some("/rampart/healthz")
        );
        assert_eq!(template(&table, Method::GET, "/healthz"), None);
        // The policy table is asked without the prefix.
        assert_eq!(
            table.find(&Method::GET, "/rampart/healthz", || None).0.policy,
            None
        );
        assert_eq!(
            table.find(&Method::POST, "/rampart/token", || None).0.policy,
            Some(PolicyName::Login)
        );
    }

    #[test]
    fn a_private_area_covers_its_routes_and_the_paths_between_them() {
        for prefix in ["", "/rampart"] {
            let table = table(
                prefix,
                &["/", "/token", "/token/revoke", "/admin/users", "/items/"],
            );
            let private = |path: &str| {
                table
                    .find(&Method::GET, &format!("{prefix}{path}"), || None)
                    .0
                    .properties
                    .private
            };
            for path in [
                "/token",
                "/token/revoke",
                "/token/other",
                "/admin",
                "/admin/users",
                "/admin/x/y",
            ] {
                assert!(private(path), "{prefix}{path}");
            }
            for path in ["/", "/items/", "/tokens", "/administrator", "/elsewhere"] {
                assert!(!private(path), "{prefix}{path}");
            }
            // A private area's unrouted path is still unrouted.
            let unrouted = table.find(&Method::GET, &format!("{prefix}/admin/x"), || None).0;
            assert_eq!(unrouted.template, None);
            assert_eq!(unrouted.policy, Some(PolicyName::Default));
        }
    }

    #[test]
    fn a_route_has_the_properties_of_its_areas() {
        let table = table("/p", &["/token", "/token/revoke", "/admin/users", "/items/"]);
        let properties = |path: &str| table.find(&Method::POST, path, || None).0.properties;
        let revoke = properties("/p/token/revoke");
        assert!(revoke.private && revoke.enrolment && !revoke.needs_mfa);
        let admin = properties("/p/admin/users");
        assert!(admin.private && !admin.enrolment && admin.needs_mfa);
        assert_eq!(properties("/p/items/"), Properties::default());
        // Only what a path's area says: the unrouted path is private alone.
        let unrouted = properties("/p/admin/elsewhere");
        assert!(unrouted.private && !unrouted.needs_mfa);
    }

    #[test]
    fn own_path_strips_only_a_whole_prefix() {
        assert_eq!(own_path("", "/a"), Some("/a"));
        assert_eq!(own_path("/p", "/p/a"), Some("/a"));
        assert_eq!(own_path("/p", "/pa"), None);
        assert_eq!(own_path("/p", "/q/a"), None);
    }
}
