//! Reading a model's fields from a JSON object or from `name=value` pairs,
//! collecting every problem with its `loc`.

use std::borrow::Cow;

use serde_json::Value;

use super::{Invalid, LocPart, MAX_ISSUES, Problem, Raw, Source, ValidationIssue};

/// A request type read field by field.
pub trait Model: Sized {
    /// Whether a field the model does not name is refused
    /// (`extra_forbidden`; OWASP API3:2023, mass assignment) or ignored (as
    /// query strings and OAuth2 forms are: clients send `client_id`, ...).
    const FORBID_EXTRA: bool = true;

    /// Reads each field from `fields`, in the model's order; `None` when any
    /// was wrong (each problem is recorded in `fields`). Every field is
    /// asked for before the result is put together, so each one is checked.
    fn read(fields: &mut Fields<'_>) -> Option<Self>;
}

/// The fields of one input, and what was found wrong with them so far.
pub struct Fields<'a> {
    source: Source,
    /// In input order; a name sent twice counts once (its last value).
    entries: Vec<(&'a str, Raw<'a>)>,
    used: Vec<bool>,
    issues: Vec<ValidationIssue>,
}

impl<'a> Fields<'a> {
    fn new(source: Source, entries: Vec<(&'a str, Raw<'a>)>) -> Self {
        let used = vec![false; entries.len()];
        Self {
            source,
            entries,
            used,
            issues: Vec::new(),
        }
    }

    /// The field's last value, if sent.
    fn find(&mut self, name: &str) -> Option<Raw<'a>> {
        let mut found = None;
        for (index, (key, raw)) in self.entries.iter().enumerate() {
            if *key == name {
                self.used[index] = true;
                found = Some(*raw);
            }
        }
        found
    }

    /// A field that must be present.
    pub fn required<T>(
        &mut self,
        name: &'static str,
        read: impl FnOnce(Raw<'_>) -> Result<T, Invalid>,
    ) -> Option<T> {
        let Some(raw) = self.find(name) else {
            self.report(name, Problem::missing().into());
            return None;
        };
        read(raw).map_err(|invalid| self.report(name, invalid)).ok()
    }

    /// A field that may be absent (or JSON `null`): `Some(None)` then.
    pub fn optional<T>(
        &mut self,
        name: &'static str,
        read: impl FnOnce(Raw<'_>) -> Result<T, Invalid>,
    ) -> Option<Option<T>> {
        match self.find(name) {
            None | Some(Raw::Json(Value::Null)) => Some(None),
            Some(raw) => read(raw)
                .map(Some)
                .map_err(|invalid| self.report(name, invalid))
                .ok(),
        }
    }

    /// Records what is wrong with the field `name`.
    pub fn report(&mut self, name: &'static str, invalid: Invalid) {
        for problem in invalid.0 {
            if self.issues.len() >= MAX_ISSUES {
                return;
            }
            let path = std::iter::once(LocPart::from(name)).chain(problem.at);
            let mut issue = ValidationIssue::new(problem.kind, self.source, path, problem.msg);
            issue.ctx = problem.ctx;
            self.issues.push(issue);
        }
    }

    fn finish<M: Model>(mut self) -> Result<M, Vec<ValidationIssue>> {
        let model = M::read(&mut self);
        if M::FORBID_EXTRA {
            // One pass with a set of the names reported: a name sent many
            // times is reported once, and the cost stays linear in the
            // number of entries (CWE-407; OWASP API4:2023). std's SipHash,
            // as the names are the client's to choose.
            let mut reported = std::collections::HashSet::new();
            for (index, (key, _)) in self.entries.iter().enumerate() {
                if self.issues.len() >= MAX_ISSUES {
                    break;
                }
                if self.used[index] || !reported.insert(*key) {
                    continue;
                }
                let problem = Problem::extra_forbidden();
                self.issues.push(ValidationIssue::new(
                    problem.kind,
                    self.source,
                    [LocPart::Key(Cow::Owned((*key).to_owned()))],
                    problem.msg,
                ));
            }
        }
        self.issues.truncate(MAX_ISSUES);
        match model {
            Some(model) if self.issues.is_empty() => Ok(model),
            _ => {
                debug_assert!(
                    !self.issues.is_empty(),
                    "a model refused input without saying why"
                );
                Err(self.issues)
            }
        }
    }
}

/// Reads a JSON request body into `M`.
pub fn read_json<M: Model>(bytes: &[u8]) -> Result<M, Vec<ValidationIssue>> {
    let whole =
        |kind: &'static str, msg: &'static str| vec![ValidationIssue::new(kind, Source::Body, [], msg)];
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(whole("missing", "Field required"));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|err| {
        let message = err.to_string();
        let reason = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(m, _)| m);
        vec![
            ValidationIssue::new(
                "json_invalid",
                Source::Body,
                // Where the parser stopped, as Python's `json` counts it:
                // the end, for a body cut short.
                [LocPart::Index(if err.is_eof() {
                    bytes.len()
                } else {
                    byte_offset(bytes, err.line(), err.column())
                })],
                "JSON decode error",
            )
            .with_ctx(serde_json::json!({ "error": reason })),
        ]
    })?;
    let Value::Object(map) = &value else {
        // Every request body is an object (a model, in FastAPI's terms).
        return Err(whole(
            "model_attributes_type",
            "Input should be a valid dictionary or object to extract fields from",
        ));
    };
    let entries = map
        .iter()
        .map(|(key, value)| (key.as_str(), Raw::Json(value)))
        .collect();
    Fields::new(Source::Body, entries).finish()
}

/// Reads `application/x-www-form-urlencoded` data (a form body or a query
/// string) into `M`.
pub fn read_pairs<M: Model>(bytes: &[u8], source: Source) -> Result<M, Vec<ValidationIssue>> {
    let pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = form_urlencoded::parse(bytes).collect();
    let entries = pairs
        .iter()
        .map(|(key, value)| (key.as_ref(), Raw::Text(value.as_ref())))
        .collect();
    Fields::new(source, entries).finish()
}

/// The byte offset of a 1-based line and column, as FastAPI's `loc` gives it.
fn byte_offset(bytes: &[u8], line: usize, column: usize) -> usize {
    let line_start: usize = bytes
        .split_inclusive(|b| *b == b'\n')
        .take(line.saturating_sub(1))
        .map(<[u8]>::len)
        .sum();
    (line_start + column.saturating_sub(1)).min(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::bounded_text;

    #[derive(Debug)]
    struct Item {
        name: String,
        price: f64,
        tags: Option<Vec<String>>,
    }

    impl Model for Item {
        fn read(fields: &mut Fields<'_>) -> Option<Self> {
            let name = fields.required("name", |raw| bounded_text(raw, 1, 5));
            let price = fields.required("price", f64::read);
            let tags = fields.optional("tags", Vec::<String>::read);
            Some(Self {
                name: name?,
                price: price?,
                tags: tags?,
            })
        }
    }

    #[derive(Debug)]
    struct Page {
        limit: Option<i64>,
    }

    impl Model for Page {
        const FORBID_EXTRA: bool = false;
        fn read(fields: &mut Fields<'_>) -> Option<Self> {
            Some(Self {
                limit: fields.optional("limit", i64::read)?,
            })
        }
    }

    use crate::input::Field;

    fn issues(json: &str) -> Vec<(String, serde_json::Value)> {
        read_json::<Item>(json.as_bytes())
            .unwrap_err()
            .into_iter()
            .map(|issue| (issue.kind.into_owned(), serde_json::to_value(&issue.loc).unwrap()))
            .collect()
    }

    #[test]
    fn every_problem_is_reported_in_field_order_then_extras() {
        assert_eq!(
            issues(r#"{"owner":"x","tags":["a",2],"name":"toolong","id":1}"#),
            [
                ("string_too_long".to_owned(), serde_json::json!(["body", "name"])),
                ("missing".to_owned(), serde_json::json!(["body", "price"])),
                ("string_type".to_owned(), serde_json::json!(["body", "tags", 1])),
                ("extra_forbidden".to_owned(), serde_json::json!(["body", "owner"])),
                ("extra_forbidden".to_owned(), serde_json::json!(["body", "id"])),
            ]
        );
    }

    #[test]
    fn a_valid_body_reads_and_null_is_absent() {
        let item = read_json::<Item>(br#"{"name":"a","price":2,"tags":null}"#).unwrap();
        assert_eq!((item.name.as_str(), item.price, item.tags), ("a", 2.0, None));
    }

    #[test]
    fn bodies_that_are_no_object_are_refused_whole() {
        assert_eq!(issues(""), [("missing".to_owned(), serde_json::json!(["body"]))]);
        assert_eq!(
            issues("[1]"),
            [("model_attributes_type".to_owned(), serde_json::json!(["body"]))]
        );
        assert_eq!(
            issues("{\n\"a\":"),
            [("json_invalid".to_owned(), serde_json::json!(["body", 6]))]
        );
    }

    #[test]
    fn a_422_lists_the_first_hundred_problems_and_each_name_once() {
        let mut body = String::from(r#"{"name":"toolong""#);
        for key in 0..100_000 {
            body.push_str(&format!(r#","k{key}":0"#));
        }
        body.push('}');
        let found = issues(&body);
        assert_eq!(found.len(), MAX_ISSUES);
        assert_eq!(found[0].0, "string_too_long");
        assert_eq!(found[1].0, "missing");
        assert_eq!(found[2].1, serde_json::json!(["body", "k0"]));
        assert_eq!(found[99].1, serde_json::json!(["body", "k97"]));

        let mut pairs = String::from("name=a&price=1");
        for key in 0..50 {
            pairs.push_str(&format!("&x{key}=1&x{key}=2&x{key}=3"));
        }
        let issues = read_pairs::<Item>(pairs.as_bytes(), Source::Body).unwrap_err();
        let names: Vec<_> = issues.iter().map(|issue| issue.loc[1].clone()).collect();
        let expected: Vec<_> = (0..50)
            .map(|key| LocPart::Key(Cow::Owned(format!("x{key}"))))
            .collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn pairs_are_text_the_last_value_counts_and_extras_may_be_ignored() {
        let page = read_pairs::<Page>(b"limit=1&limit=7&other=x", Source::Query).unwrap();
        assert_eq!(page.limit, Some(7));
        let issues = read_pairs::<Page>(b"limit=ten", Source::Query).unwrap_err();
        assert_eq!(issues[0].kind, "int_parsing");
        assert_eq!(
            serde_json::to_value(&issues[0].loc).unwrap(),
            serde_json::json!(["query", "limit"])
        );
        let issues = read_pairs::<Item>(b"name=a&price=1&x=1&x=2", Source::Body).unwrap_err();
        assert_eq!(issues.len(), 1, "{issues:?}");
    }
}
