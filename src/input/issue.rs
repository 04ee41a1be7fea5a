//! What a 422 says: `{"detail":[{"type","loc","msg","ctx"?}]}`, where `loc`
//! says where the bad value was (`["body","price"]`, `["path","item_id"]`,
//! `["query","limit"]`).
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
    pub fn name(self) -> &'static str {
        match self {
            Self::Body => "body",
            Self::Path => "path",
            Self::Query => "query",
        }
    }
}

/// One element of `loc`: a field name or a list index (or, for JSON that
/// does not parse, the byte offset of the error).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LocPart {
    Key(Cow<'static, str>),
    Index(usize),
}

impl From<&'static str> for LocPart {
    fn from(key: &'static str) -> Self {
        Self::Key(Cow::Borrowed(key))
    }
}

/// One problem with the input.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ValidationIssue {
    /// Machine-readable kind, as pydantic v2 names them (`missing`,
    /// `extra_forbidden`, `string_too_short`, `int_parsing`, ...).
    #[serde(rename = "type")]
    pub kind: Cow<'static, str>,
    #[schema(value_type = Vec<serde_json::Value>)]
    pub loc: Vec<LocPart>,
    pub msg: Cow<'static, str>,
    /// The rule's parameters, where pydantic gives them
    /// (`{"max_length":100}`, `{"gt":0}`, `{"expected":"'password'"}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub ctx: Option<serde_json::Value>,
}

/// The 422 body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationErrorBody {
    pub detail: Vec<ValidationIssue>,
}

impl ValidationIssue {
    /// An issue at `source` followed by `path`.
    pub fn new(
        kind: impl Into<Cow<'static, str>>,
        source: Source,
        path: impl IntoIterator<Item = LocPart>,
        msg: impl Into<Cow<'static, str>>,
    ) -> Self {
        let mut loc = vec![LocPart::Key(source.name().into())];
        loc.extend(path);
        Self {
            kind: kind.into(),
            loc,
            msg: msg.into(),
            ctx: None,
        }
    }

    pub fn with_ctx(mut self, ctx: serde_json::Value) -> Self {
        self.ctx = Some(ctx);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_fastapi_does() {
        let issue = ValidationIssue::new("missing", Source::Query, ["q".into()], "Field required");
        let json = serde_json::to_value(ValidationErrorBody { detail: vec![issue] }).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"detail":[{"type":"missing","loc":["query","q"],"msg":"Field required"}]})
        );
        let issue = ValidationIssue::new(
            "string_too_long",
            Source::Body,
            ["name".into(), LocPart::Index(2)],
            "x",
        )
        .with_ctx(serde_json::json!({"max_length": 100}));
        assert_eq!(
            serde_json::to_value(issue).unwrap(),
            serde_json::json!({"type":"string_too_long","loc":["body","name",2],"msg":"x","ctx":{"max_length":100}})
        );
    }
}
