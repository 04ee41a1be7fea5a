//! Routes from the upstream's own OpenAPI document (SPEC section 6): every
//! documented operation is a route for its method, and nothing else is
//! (OWASP API9:2023, improper inventory management: an undocumented path
//! is never forwarded).
//!
//! An operation's security is its own `security` if it has one, else the
//! document's root `security` (OpenAPI 3.1, section 4.8.10: an operation's
//! list overrides the root's). No list, an empty one, or any alternative
//! that is `{}` means anyone may call it; otherwise a caller is needed who
//! holds every scope of at least one alternative as roles (for schemes
//! other than OAuth2 the list names roles outright, as OpenAPI 3.1 allows).

use std::sync::Arc;

use serde_json::Value;

use super::{table::Route, target::Target};
use crate::{
    config::gateway::{Access, RouteTemplate},
    ratelimit::PolicyName,
};

const METHODS: [(&str, http::Method); 8] = [
    ("get", http::Method::GET),
    ("put", http::Method::PUT),
    ("post", http::Method::POST),
    ("delete", http::Method::DELETE),
    ("options", http::Method::OPTIONS),
    ("head", http::Method::HEAD),
    ("patch", http::Method::PATCH),
    ("trace", http::Method::TRACE),
];

/// The routes of a document, in its order, each to `target`.
pub fn routes(document: &Value, target: Option<&Arc<Target>>) -> Result<Vec<Route>, String> {
    let version = document
        .get("openapi")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !version.starts_with("3.") {
        return Err("it is not an OpenAPI 3 document (no \"openapi\": \"3.x\")".to_owned());
    }
    let root = access(document.get("security"), "the document's root")?;
    let paths = document
        .get("paths")
        .and_then(Value::as_object)
        .ok_or("it has no \"paths\" object")?;
    let mut routes = Vec::new();
    for (path, item) in paths {
        let template: RouteTemplate = path.parse().map_err(|err| format!("path {path}: {err}"))?;
        let item = item
            .as_object()
            .ok_or_else(|| format!("path {path} is not an object"))?;
        for (name, method) in &METHODS {
            let Some(operation) = item.get(*name) else {
                continue;
            };
            let access = match operation.get("security") {
                Some(security) => access(Some(security), &format!("{} {path}", method.as_str()))?,
                None => root.clone(),
            };
            routes.push(Route::new(
                template.clone(),
                Some(vec![method.clone()]),
                access,
                PolicyName::Default,
                target.cloned(),
            ));
        }
    }
    // In the document's order, which is the order the upstream tries its
    // own routes in (Starlette, Express and Flask: the first declared that
    // matches wins). OpenAPI's "concrete paths first" would let a request
    // pass under one operation's rule and run another's handler (SPEC
    // section 11; OWASP API5:2023).
    Ok(routes)
}

/// The access a `security` list grants.
fn access(security: Option<&Value>, whose: &str) -> Result<Access, String> {
    let Some(security) = security else {
        return Ok(Access::Public);
    };
    let alternatives = security
        .as_array()
        .ok_or_else(|| format!("the security of {whose} is not a list"))?;
    let mut sets = Vec::with_capacity(alternatives.len());
    for alternative in alternatives {
        let schemes = alternative
            .as_object()
            .ok_or_else(|| format!("the security of {whose} holds something other than requirements"))?;
        if schemes.is_empty() {
            // `{}`: this alternative needs nothing.
            return Ok(Access::Public);
        }
        let mut roles = Vec::new();
        for scopes in schemes.values() {
            let scopes = scopes
                .as_array()
                .ok_or_else(|| format!("the security of {whose} has scopes that are not a list"))?;
            for scope in scopes {
                let scope = scope
                    .as_str()
                    .ok_or_else(|| format!("the security of {whose} has a scope that is not a string"))?;
                roles.push(scope.to_owned());
            }
        }
        sets.push(roles);
    }
    if sets.is_empty() {
        Ok(Access::Public)
    } else if sets.iter().any(Vec::is_empty) {
        // Some alternative needs a caller and no scope.
        Ok(Access::Authenticated)
    } else {
        Ok(Access::Roles(sets))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn access_of(document: Value, method: &http::Method, path: &str) -> Access {
        let routes = routes(&document, None).unwrap();
        let table = crate::gateway::table::Table::new(routes);
        table.find(method, path, None).expect("a route").access.clone()
    }

    #[test]
    fn operations_carry_their_own_security_else_the_roots() {
        let document = json!({
            "openapi": "3.1.0",
            "security": [{"OAuth2": []}],
            "paths": {
                "/reports": {"get": {}},
                "/public": {"get": {"security": []}},
                "/either": {"get": {"security": [{}, {"OAuth2": ["admin"]}]}},
                "/admin": {"get": {"security": [{"OAuth2": ["admin", "audit"]}, {"Key": ["ops"]}]}},
            }
        });
        assert_eq!(
            access_of(document.clone(), &http::Method::GET, "/reports"),
            Access::Authenticated
        );
        assert_eq!(
            access_of(document.clone(), &http::Method::GET, "/public"),
            Access::Public
        );
        assert_eq!(
            access_of(document.clone(), &http::Method::GET, "/either"),
            Access::Public
        );
        assert_eq!(
            access_of(document, &http::Method::GET, "/admin"),
            Access::Roles(vec![vec!["admin".into(), "audit".into()], vec!["ops".into()]])
        );
    }

    #[test]
    fn without_root_security_an_operation_without_its_own_is_public() {
        let document = json!({
            "openapi": "3.1.0",
            "paths": {"/a": {"get": {}, "post": {"security": [{"OAuth2": []}]}}}
        });
        assert_eq!(
            access_of(document.clone(), &http::Method::GET, "/a"),
            Access::Public
        );
        assert_eq!(
            access_of(document, &http::Method::POST, "/a"),
            Access::Authenticated
        );
    }

    #[test]
    fn undocumented_methods_and_paths_have_no_route() {
        let document = json!({"openapi": "3.0.3", "paths": {"/a": {"get": {}}}});
        let table = crate::gateway::table::Table::new(routes(&document, None).unwrap());
        assert!(table.find(&http::Method::DELETE, "/a", None).is_none());
        assert!(table.find(&http::Method::GET, "/b", None).is_none());
    }

    #[test]
    fn operations_match_in_the_documents_order() {
        let templated_first = json!({
            "openapi": "3.1.0",
            "paths": {
                "/items/{id}": {"get": {"security": [{"OAuth2": []}]}},
                "/items/latest": {"get": {}},
            }
        });
        // The upstream runs `/items/{id}` for `/items/latest`: its rule.
        assert_eq!(
            access_of(templated_first, &http::Method::GET, "/items/latest"),
            Access::Authenticated
        );
        let concrete_first = json!({
            "openapi": "3.1.0",
            "paths": {
                "/items/latest": {"get": {}},
                "/items/{id}": {"get": {"security": [{"OAuth2": []}]}},
            }
        });
        assert_eq!(
            access_of(concrete_first.clone(), &http::Method::GET, "/items/latest"),
            Access::Public
        );
        assert_eq!(
            access_of(concrete_first, &http::Method::GET, "/items/3"),
            Access::Authenticated
        );
    }

    #[test]
    fn documents_it_cannot_read_are_refused() {
        for bad in [
            json!({"swagger": "2.0", "paths": {}}),
            json!({"openapi": "3.1.0"}),
            json!({"openapi": "3.1.0", "paths": {"/files/{name}.json": {"get": {}}}}),
            json!({"openapi": "3.1.0", "paths": {"/a": {"get": {"security": {}}}}}),
        ] {
            assert!(routes(&bad, None).is_err(), "{bad}");
        }
    }
}
