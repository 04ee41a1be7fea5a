//! What is wrong with one value, in pydantic v2's words: each constructor
//! is one of pydantic's error types, with its message and `ctx` as pydantic
//! gives them (pydantic-core's `ErrorType`).

use std::borrow::Cow;

use serde_json::{Value, json};

use super::LocPart;

/// One problem with a value, `at` a place inside it (a list index), if any.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub kind: &'static str,
    pub msg: Cow<'static, str>,
    pub ctx: Option<Value>,
    pub at: Vec<LocPart>,
}

/// Every problem with a value (a list can have one per element).
#[derive(Clone, Debug, PartialEq)]
pub struct Invalid(pub Vec<Problem>);

impl From<Problem> for Invalid {
    fn from(problem: Problem) -> Self {
        Self(vec![problem])
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

impl Problem {
    fn new(kind: &'static str, msg: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            msg: msg.into(),
            ctx: None,
            at: Vec::new(),
        }
    }

    fn with(mut self, ctx: Value) -> Self {
        self.ctx = Some(ctx);
        self
    }

    /// Places the problem inside a list, at `index`.
    pub fn at_index(mut self, index: usize) -> Self {
        self.at.insert(0, LocPart::Index(index));
        self
    }

    pub fn missing() -> Self {
        Self::new("missing", "Field required")
    }

    pub fn extra_forbidden() -> Self {
        Self::new("extra_forbidden", "Extra inputs are not permitted")
    }

    pub fn string_type() -> Self {
        Self::new("string_type", "Input should be a valid string")
    }

    pub fn string_too_short(min_length: usize) -> Self {
        Self::new(
            "string_too_short",
            format!("String should have at least {}", plural(min_length, "character")),
        )
        .with(json!({ "min_length": min_length }))
    }

    pub fn string_too_long(max_length: usize) -> Self {
        Self::new(
            "string_too_long",
            format!("String should have at most {}", plural(max_length, "character")),
        )
        .with(json!({ "max_length": max_length }))
    }

    pub fn string_pattern_mismatch(pattern: &'static str) -> Self {
        Self::new(
            "string_pattern_mismatch",
            format!("String should match pattern '{pattern}'"),
        )
        .with(json!({ "pattern": pattern }))
    }

    pub fn int_type() -> Self {
        Self::new("int_type", "Input should be a valid integer")
    }

    pub fn int_parsing() -> Self {
        Self::new(
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer",
        )
    }

    pub fn int_from_float() -> Self {
        Self::new(
            "int_from_float",
            "Input should be a valid integer, got a number with a fractional part",
        )
    }

    pub fn float_type() -> Self {
        Self::new("float_type", "Input should be a valid number")
    }

    pub fn float_parsing() -> Self {
        Self::new(
            "float_parsing",
            "Input should be a valid number, unable to parse string as a number",
        )
    }

    pub fn finite_number() -> Self {
        Self::new("finite_number", "Input should be a finite number")
    }

    pub fn list_type() -> Self {
        Self::new("list_type", "Input should be a valid list")
    }

    pub fn dict_type() -> Self {
        Self::new("dict_type", "Input should be a valid dictionary")
    }

    /// `gt`: the bound as the rule states it (`0`, `0.0`).
    pub fn greater_than(gt: Value) -> Self {
        Self::new("greater_than", format!("Input should be greater than {gt}")).with(json!({ "gt": gt }))
    }

    pub fn greater_than_equal(ge: Value) -> Self {
        Self::new(
            "greater_than_equal",
            format!("Input should be greater than or equal to {ge}"),
        )
        .with(json!({ "ge": ge }))
    }

    pub fn less_than_equal(le: Value) -> Self {
        Self::new(
            "less_than_equal",
            format!("Input should be less than or equal to {le}"),
        )
        .with(json!({ "le": le }))
    }

    /// `expected`: the allowed values as pydantic lists them:
    /// `'password' or 'refresh_token'`.
    pub fn literal_error(expected: &'static str) -> Self {
        Self::new("literal_error", format!("Input should be {expected}"))
            .with(json!({ "expected": expected }))
    }

    /// A rule of the application's own (pydantic's `ValueError` in a
    /// validator): `Value error, <reason>`, and the `ctx` FastAPI gives it.
    pub fn value_error(reason: impl std::fmt::Display) -> Self {
        Self::new("value_error", format!("Value error, {reason}")).with(json!({ "error": {} }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_pydantic_writes_them() {
        assert_eq!(
            Problem::string_too_short(1).msg,
            "String should have at least 1 character"
        );
        assert_eq!(
            Problem::string_too_long(100).msg,
            "String should have at most 100 characters"
        );
        assert_eq!(
            Problem::string_too_long(100).ctx,
            Some(json!({"max_length": 100}))
        );
        assert_eq!(
            Problem::greater_than(json!(0)).msg,
            "Input should be greater than 0"
        );
        assert_eq!(Problem::greater_than(json!(0)).ctx, Some(json!({"gt": 0})));
        assert_eq!(
            Problem::less_than_equal(json!(100)).msg,
            "Input should be less than or equal to 100"
        );
        assert_eq!(
            Problem::literal_error("'password' or 'refresh_token'").msg,
            "Input should be 'password' or 'refresh_token'"
        );
        assert_eq!(Problem::value_error("too common").msg, "Value error, too common");
    }
}
