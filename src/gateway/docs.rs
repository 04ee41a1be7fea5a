//! One set of docs (SPEC section 6, "Gateway, continued"): rampart's own
//! OpenAPI document and every upstream operation that is a route, so
//! Swagger UI at `/docs` documents, and after "Authorize" calls, the
//! upstreams' routes too.
//!
//! - Paths are written in full from the root: rampart's own under
//!   `gateway.own_prefix` (its `servers` entry goes, since the upstreams'
//!   paths are not under it), and the token URL with them.
//! - Each operation keeps its parameters, bodies and answers; the
//!   components they refer to come along. A component whose name rampart's
//!   document (or an earlier upstream's) already gives to something else is
//!   renamed `{upstream}_{name}`, and the references to it follow.
//! - An operation's security becomes rampart's OAuth2 scheme: the same
//!   alternatives, each holding the scopes it held (roles here); a public
//!   operation says `[]`.
//! - An operation whose path and method rampart's own routes hold, or an
//!   earlier upstream's, is left out: that one takes the requests.

use serde_json::{Map, Value, json};

/// The name of rampart's security scheme.
const SCHEME: &str = "bearer";
/// The component kinds an operation may refer to.
const KINDS: [&str; 6] = [
    "schemas",
    "responses",
    "parameters",
    "requestBodies",
    "headers",
    "examples",
];
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// rampart's document `own` (paths relative to `own_prefix`) merged with
/// each upstream's `(name, document)`, in order.
pub fn merge(own: &Value, own_prefix: &str, upstreams: &[(&str, &Value)]) -> Value {
    let mut merged = own.clone();
    if !own_prefix.is_empty() {
        if let Some(object) = merged.as_object_mut() {
            object.remove("servers");
        }
        if let Some(paths) = merged.get_mut("paths").and_then(Value::as_object_mut) {
            let moved: Map<String, Value> = std::mem::take(paths)
                .into_iter()
                .map(|(path, item)| (format!("{own_prefix}{path}"), item))
                .collect();
            *paths = moved;
        }
        let token_url = merged.pointer_mut(&format!(
            "/components/securitySchemes/{SCHEME}/flows/password/tokenUrl"
        ));
        if let Some(url) = token_url {
            *url = Value::String(format!("{own_prefix}/token"));
        }
    }
    for (name, document) in upstreams {
        add_upstream(&mut merged, name, document);
    }
    merged
}

fn add_upstream(merged: &mut Value, name: &str, document: &Value) {
    let Some(paths) = document.get("paths").and_then(Value::as_object) else {
        return;
    };
    let root_security = document.get("security");
    // Components first: their names as they will be in the merged document.
    let mut renames = Vec::new();
    for kind in KINDS {
        for (component, value) in components(document, kind) {
            let existing = merged.pointer(&format!("/components/{kind}/{}", escape(component)));
            match existing {
                None => {}
                Some(existing) if existing == value => {}
                Some(_) => renames.push((kind, component.clone(), format!("{name}_{component}"))),
            }
        }
    }
    let rename = |value: &mut Value| rewrite_refs(value, &renames);
    for kind in KINDS {
        let components = components(document, kind);
        if components.is_empty() {
            continue;
        }
        let target = merged
            .as_object_mut()
            .map(|root| root.entry("components").or_insert_with(|| json!({})))
            .and_then(Value::as_object_mut)
            .map(|all| all.entry(kind).or_insert_with(|| json!({})))
            .and_then(Value::as_object_mut);
        let Some(target) = target else {
            return;
        };
        for (component, value) in components {
            let renamed = renames
                .iter()
                .find(|(k, from, _)| *k == kind && from == component)
                .map_or(component.clone(), |(_, _, to)| to.clone());
            let mut value = value.clone();
            rename(&mut value);
            target.entry(renamed).or_insert(value);
        }
    }
    let Some(merged_paths) = merged
        .as_object_mut()
        .map(|root| root.entry("paths").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let slot = merged_paths.entry(path.clone()).or_insert_with(|| json!({}));
            let Some(slot) = slot.as_object_mut() else {
                continue;
            };
            if slot.contains_key(method) {
                continue;
            }
            let mut operation = operation.clone();
            rename(&mut operation);
            if let Some(parameters) = item.get("parameters") {
                // Path-level parameters, kept with each operation.
                let mut parameters = parameters.clone();
                rename(&mut parameters);
                if let Some(object) = operation.as_object_mut() {
                    object.entry("parameters").or_insert(parameters);
                }
            }
            let security = operation
                .get("security")
                .or(root_security)
                .map_or(json!([]), rampart_security);
            if let Some(object) = operation.as_object_mut() {
                object.insert("security".to_owned(), security);
                object.entry("tags").or_insert_with(|| json!([name]));
            }
            slot.insert(method.to_owned(), operation);
        }
    }
}

/// A document's components of one kind (none: an empty map).
fn components<'a>(document: &'a Value, kind: &str) -> &'a Map<String, Value> {
    static NONE: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    document
        .pointer(&format!("/components/{kind}"))
        .and_then(Value::as_object)
        .unwrap_or_else(|| NONE.get_or_init(Map::new))
}

/// An upstream's security requirements, said in rampart's scheme: each
/// alternative with the union of its scopes; `{}` stays `{}`.
fn rampart_security(security: &Value) -> Value {
    let Some(alternatives) = security.as_array() else {
        return json!([]);
    };
    let said: Vec<Value> = alternatives
        .iter()
        .map(|alternative| match alternative.as_object() {
            Some(schemes) if schemes.is_empty() => json!({}),
            Some(schemes) => {
                let mut scopes: Vec<Value> = Vec::new();
                for scope in schemes.values().filter_map(Value::as_array).flatten() {
                    if !scopes.contains(scope) {
                        scopes.push(scope.clone());
                    }
                }
                json!({ SCHEME: scopes })
            }
            None => json!({}),
        })
        .collect();
    Value::Array(said)
}

/// Points every `$ref` to a renamed component at its new name.
fn rewrite_refs(value: &mut Value, renames: &[(&str, String, String)]) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get_mut("$ref") {
                for (kind, from, to) in renames {
                    if *reference == format!("#/components/{kind}/{}", escape(from)) {
                        *reference = format!("#/components/{kind}/{}", escape(to));
                    }
                }
            }
            for child in object.values_mut() {
                rewrite_refs(child, renames);
            }
        }
        Value::Array(items) => {
            for item in items {
                rewrite_refs(item, renames);
            }
        }
        _ => {}
    }
}

/// A name as one JSON Pointer token (RFC 6901).
fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> Value {
        json!({
            "openapi": "3.1.0",
            "servers": [{"url": "/auth"}],
            "paths": {"/token": {"post": {"responses": {}}}},
            "components": {
                "schemas": {"ErrorBody": {"type": "object"}},
                "securitySchemes": {"bearer": {"type": "oauth2", "flows": {"password": {"tokenUrl": "/token", "scopes": {}}}}}
            }
        })
    }

    fn upstream(error_type: &str) -> Value {
        json!({
            "openapi": "3.1.0",
            "security": [{"OAuth2PasswordBearer": []}],
            "paths": {
                "/notes/": {
                    "get": {"responses": {"422": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}}}},
                    "post": {"security": [{"OAuth2PasswordBearer": ["writer"]}, {"Key": ["admin"]}]}
                },
                "/status": {"get": {"security": []}},
                "/token": {"post": {"security": []}}
            },
            "components": {
                "schemas": {"HTTPValidationError": {"type": error_type}, "ErrorBody": {"type": "string"}},
                "securitySchemes": {"OAuth2PasswordBearer": {"type": "oauth2"}}
            }
        })
    }

    #[test]
    fn rampart_paths_move_under_the_prefix_and_upstream_paths_stay_at_the_root() {
        let merged = merge(&own(), "/auth", &[("notes", &upstream("object"))]);
        assert!(merged.get("servers").is_none());
        let paths = merged["paths"].as_object().unwrap();
        assert!(paths.contains_key("/auth/token"));
        assert!(paths.contains_key("/notes/"));
        // The upstream's own /token is a route of its own (rampart's is under /auth).
        assert!(paths.contains_key("/token"));
        assert_eq!(
            merged["components"]["securitySchemes"]["bearer"]["flows"]["password"]["tokenUrl"],
            "/auth/token"
        );
        assert!(
            merged["components"]["securitySchemes"]
                .get("OAuth2PasswordBearer")
                .is_none()
        );
    }

    #[test]
    fn security_is_said_in_rampart_scheme() {
        let merged = merge(&own(), "", &[("notes", &upstream("object"))]);
        assert_eq!(
            merged["paths"]["/notes/"]["get"]["security"],
            json!([{"bearer": []}])
        );
        assert_eq!(
            merged["paths"]["/notes/"]["post"]["security"],
            json!([{"bearer": ["writer"]}, {"bearer": ["admin"]}])
        );
        assert_eq!(merged["paths"]["/status"]["get"]["security"], json!([]));
        assert_eq!(merged["paths"]["/notes/"]["get"]["tags"], json!(["notes"]));
    }

    #[test]
    fn clashing_components_are_renamed_and_rampart_routes_win() {
        let merged = merge(
            &own(),
            "",
            &[("notes", &upstream("object")), ("billing", &upstream("array"))],
        );
        let schemas = &merged["components"]["schemas"];
        assert_eq!(
            schemas["ErrorBody"],
            json!({"type": "object"}),
            "rampart's own stays"
        );
        assert_eq!(schemas["notes_ErrorBody"], json!({"type": "string"}));
        assert_eq!(schemas["HTTPValidationError"], json!({"type": "object"}));
        assert_eq!(schemas["billing_HTTPValidationError"], json!({"type": "array"}));
        // Without a prefix, rampart's /token takes the requests.
        assert_eq!(merged["paths"]["/token"]["post"], json!({"responses": {}}));
        // The first upstream's /notes/ takes them; the second's refers to nothing.
        assert_eq!(
            merged["paths"]["/notes/"]["get"]["responses"]["422"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/HTTPValidationError"
        );
    }

    #[test]
    fn a_renamed_components_references_follow_it() {
        let mut value = json!({"a": [{"$ref": "#/components/schemas/X"}], "$ref": "#/components/schemas/Y"});
        rewrite_refs(&mut value, &[("schemas", "X".to_owned(), "up_X".to_owned())]);
        assert_eq!(
            value,
            json!({"a": [{"$ref": "#/components/schemas/up_X"}], "$ref": "#/components/schemas/Y"})
        );
    }
}
