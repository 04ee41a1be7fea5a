//! The target's OpenAPI document, as far as the scan needs it: its GET
//! operations, which of them need a credential, and their parameters.

use serde_json::Value;

/// A parameter of an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    /// `path` or `query`.
    pub location: String,
    /// The schema's `type`, if it says one.
    pub kind: Option<String>,
}

/// A GET operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub path: String,
    pub secured: bool,
    pub params: Vec<Param>,
}

fn secured(requirements: Option<&Value>) -> Option<bool> {
    let requirements = requirements?.as_array()?;
    Some(
        requirements
            .iter()
            .any(|r| r.as_object().is_some_and(|r| !r.is_empty())),
    )
}

/// The GET operations of `document`, in its order.
pub fn operations(document: &Value) -> Vec<Operation> {
    let root_secured = secured(document.get("security")).unwrap_or(false);
    let Some(paths) = document.get("paths").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (path, item) in paths {
        let Some(get) = item.get("get") else { continue };
        let params = item
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .chain(
                get.get("parameters")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten(),
            )
            .filter_map(|param| {
                let location = param.get("in")?.as_str()?;
                (location == "path" || location == "query").then(|| Param {
                    name: param.get("name").and_then(Value::as_str).unwrap_or("").to_owned(),
                    location: location.to_owned(),
                    kind: param
                        .pointer("/schema/type")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                })
            })
            .collect();
        found.push(Operation {
            path: path.clone(),
            secured: secured(get.get("security")).unwrap_or(root_secured),
            params,
        });
    }
    found
}

impl Operation {
    /// The path with each path parameter filled: `value(param)`.
    pub fn fill(&self, value: impl Fn(&Param) -> String) -> String {
        let mut path = self.path.clone();
        for param in self.params.iter().filter(|p| p.location == "path") {
            let encoded: String = form_urlencoded::byte_serialize(value(param).as_bytes()).collect();
            path = path.replace(&format!("{{{}}}", param.name), &encoded);
        }
        path
    }

    pub fn has_path_params(&self) -> bool {
        self.params.iter().any(|p| p.location == "path")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn get_operations_with_their_security_and_parameters() {
        let document = json!({
            "security": [{"bearer": []}],
            "paths": {
                "/items/{id}": {"get": {"parameters": [
                    {"name": "id", "in": "path", "schema": {"type": "integer"}},
                    {"name": "q", "in": "query", "schema": {"type": "string"}},
                    {"name": "x", "in": "header"}
                ]}, "delete": {}},
                "/public": {"get": {"security": [{}]}},
                "/token": {"post": {}}
            }
        });
        let operations = operations(&document);
        assert_eq!(operations.len(), 2);
        assert!(operations[0].secured && operations[0].has_path_params());
        assert_eq!(operations[0].params.len(), 2);
        assert_eq!(operations[0].params[0].kind.as_deref(), Some("integer"));
        assert!(!operations[1].secured, "an empty requirement is public");
        assert_eq!(operations[0].fill(|_| "a b".to_owned()), "/items/a+b");
    }
}
