//! FastAPI-shaped validation errors: 422 with
//! `{"detail":[{"type","loc","msg"}]}`, where `loc` says where the bad value
//! was (`["body","price"]`, `["path","item_id"]`, `["query","limit"]`).
//!
//! The offending input is not echoed back (FastAPI adds an `input` member):
//! it may be a password.

use std::borrow::Cow;

use serde::Serialize;
use utoipa::ToSchema;

/// Where in the request a value came from: the first element of `loc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Body,
    Path,
    Query,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Self::Body => "body",
            Self::Path => "path",
            Self::Query => "query",
        }
    }
}

/// One element of `loc`: a field name or a list index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LocPart {
    Key(Cow<'static, str>),
    Index(usize),
}

/// One problem with the input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ValidationIssue {
    /// Machine-readable kind, as FastAPI/pydantic name them (`missing`,
    /// `extra_forbidden`, `int_parsing`, `json_invalid`, `value_error`, ...).
    #[serde(rename = "type")]
    pub kind: Cow<'static, str>,
    pub loc: Vec<LocPart>,
    pub msg: String,
}

/// The 422 body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationErrorBody {
    pub detail: Vec<ValidationIssue>,
}

impl ValidationIssue {
    pub fn new(
        kind: impl Into<Cow<'static, str>>,
        source: Source,
        path: impl IntoIterator<Item = LocPart>,
        msg: impl Into<String>,
    ) -> Self {
        let mut loc = vec![LocPart::Key(source.name().into())];
        loc.extend(path);
        Self {
            kind: kind.into(),
            loc,
            msg: msg.into(),
        }
    }

    /// Turns a serde error found at `path` into an issue. serde reports what
    /// went wrong only as text; its wording is stable and is matched here.
    pub fn from_serde(source: Source, path: &serde_path_to_error::Path, message: &str) -> Self {
        let mut loc: Vec<LocPart> = path
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Seq { index } => Some(LocPart::Index(*index)),
                serde_path_to_error::Segment::Map { key } => Some(LocPart::Key(key.clone().into())),
                serde_path_to_error::Segment::Enum { variant } => Some(LocPart::Key(variant.clone().into())),
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        let (kind, msg): (&'static str, String) = if let Some(field) = quoted_after(message, "missing field ")
        {
            loc.push(LocPart::Key(field.into()));
            ("missing", "Field required".into())
        } else if let Some(field) = quoted_after(message, "unknown field ") {
            // The path already ends at the unknown key for some formats.
            if loc.last() != Some(&LocPart::Key(field.clone().into())) {
                loc.push(LocPart::Key(field.into()));
            }
            ("extra_forbidden", "Extra inputs are not permitted".into())
        } else if let Some(expected) = message.split_once(", expected ").map(|(_, e)| e)
            && message.starts_with("invalid type")
        {
            let (kind, wanted) = expectation(expected);
            (kind, format!("Input should be {wanted}"))
        } else if let Some((kind, msg)) = parse_failure(message) {
            (kind, msg.into())
        } else {
            ("value_error", message.to_owned())
        };
        Self::new(kind, source, loc, msg)
    }
}

/// `missing field `price`` -> `price`.
fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?.strip_prefix('`')?;
    rest.split_once('`').map(|(name, _)| name.to_owned())
}

/// The pydantic kind and wording for what serde expected.
fn expectation(expected: &str) -> (&'static str, &'static str) {
    let expected = expected.trim();
    if [
        "i8", "i16", "i32", "i64", "i128", "u8", "u16", "u32", "u64", "u128", "isize", "usize",
    ]
    .iter()
    .any(|t| expected == *t || expected.contains("integer"))
    {
        ("int_type", "a valid integer")
    } else if expected == "f32"
        || expected == "f64"
        || expected.contains("float")
        || expected.contains("number")
    {
        ("float_type", "a valid number")
    } else if expected.contains("bool") {
        ("bool_type", "a valid boolean")
    } else if expected.contains("string") || expected.contains("char") {
        ("string_type", "a valid string")
    } else if expected.contains("sequence") || expected.contains("array") || expected.contains("list") {
        ("list_type", "a valid list")
    } else if expected.contains("struct") || expected.contains("map") {
        ("model_type", "a valid dictionary or object")
    } else {
        ("type_error", "of another type")
    }
}

/// Failures of `str::parse`, as serde_urlencoded (query strings, forms)
/// reports them.
fn parse_failure(message: &str) -> Option<(&'static str, &'static str)> {
    match message {
        "invalid digit found in string"
        | "cannot parse integer from empty string"
        | "number too large to fit in target type"
        | "number too small to fit in target type" => Some((
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer",
        )),
        "invalid float literal" => Some((
            "float_parsing",
            "Input should be a valid number, unable to parse string as a number",
        )),
        "provided string was not `true` or `false`" => Some((
            "bool_parsing",
            "Input should be a valid boolean, unable to interpret input",
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        name: String,
        price: f64,
        tags: Vec<u32>,
    }

    fn issue_for(json: &str) -> ValidationIssue {
        let de = &mut serde_json::Deserializer::from_str(json);
        let err = serde_path_to_error::deserialize::<_, Item>(de).unwrap_err();
        let message = err.inner().to_string();
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(m, _)| m)
            .to_owned();
        ValidationIssue::from_serde(Source::Body, err.path(), &message)
    }

    fn loc(parts: &[&str]) -> Vec<LocPart> {
        parts.iter().map(|p| LocPart::Key(p.to_string().into())).collect()
    }

    #[test]
    fn a_missing_field_is_named_in_loc() {
        let issue = issue_for(r#"{"name":"a","tags":[]}"#);
        assert_eq!(issue.kind, "missing");
        assert_eq!(issue.loc, loc(&["body", "price"]));
        assert_eq!(issue.msg, "Field required");
    }

    #[test]
    fn an_unknown_field_is_forbidden() {
        let issue = issue_for(r#"{"name":"a","price":1,"tags":[],"owner":"x"}"#);
        assert_eq!(issue.kind, "extra_forbidden");
        assert_eq!(issue.loc, loc(&["body", "owner"]));
    }

    #[test]
    fn a_wrong_type_says_what_was_expected() {
        let issue = issue_for(r#"{"name":"a","price":"cheap","tags":[]}"#);
        assert_eq!(issue.kind, "float_type");
        assert_eq!(issue.loc, loc(&["body", "price"]));
        let issue = issue_for(r#"{"name":"a","price":1,"tags":[1,"x"]}"#);
        assert_eq!(issue.kind, "int_type");
        assert_eq!(
            issue.loc,
            vec![
                LocPart::Key("body".into()),
                LocPart::Key("tags".into()),
                LocPart::Index(1)
            ]
        );
    }

    #[test]
    fn serializes_as_fastapi_does() {
        let issue = ValidationIssue::new(
            "missing",
            Source::Query,
            [LocPart::Key("q".into())],
            "Field required",
        );
        let json = serde_json::to_value(ValidationErrorBody { detail: vec![issue] }).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"detail":[{"type":"missing","loc":["query","q"],"msg":"Field required"}]})
        );
    }
}
